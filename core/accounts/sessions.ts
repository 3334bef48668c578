import type { AppContext } from '../platform/context';
import { sha256Hex } from '../platform/crypto';
import type { User } from '../platform/db';

/** last_used_at drives personal-data retention (RT3); it is refreshed at most this often. */
const LAST_USED_GRANULARITY_MS = 3600_000;

/** The active person a live session's bearer token belongs to (tokens are stored hashed). */
export async function userForToken(ctx: AppContext, token: string): Promise<User | undefined> {
  return ctx.db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .selectAll('users')
    .where('sessions.token_hash', '=', sha256Hex(token))
    .where('sessions.revoked_at', 'is', null)
    .where('sessions.expires_at', '>', ctx.clock.now())
    .where('users.status', '=', 'active')
    .executeTakeFirst();
}

/** Records that a person used the service now (at most hourly). */
export async function touchLastUsed(ctx: AppContext, user: Pick<User, 'id' | 'last_used_at'>): Promise<void> {
  const now = ctx.clock.now();
  if (now.getTime() - new Date(user.last_used_at).getTime() > LAST_USED_GRANULARITY_MS) {
    await ctx.db.updateTable('users').set({ last_used_at: now }).where('id', '=', user.id).execute();
  }
}

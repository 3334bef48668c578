import type { AppContext } from '../platform/context';
import { newId } from '../platform/crypto';
import type { Purpose } from '../platform/db';

/** Optional purposes; all off until the person opts in (CN1). Service delivery needs no consent. */
export const PURPOSES: readonly Purpose[] = ['marketing', 'analytics', 'service_improvement', 'portfolio', 'whatsapp'];

/** Records a decision; history is kept, the newest row per purpose is in force (RG5: at once). */
export async function recordConsent(
  ctx: AppContext,
  userId: string,
  purpose: Purpose,
  granted: boolean,
  source: string,
): Promise<void> {
  await ctx.db
    .insertInto('consents')
    .values({ id: newId('cns'), user_id: userId, purpose, granted, source, recorded_at: ctx.clock.now() })
    .execute();
}

/** The consent in force per purpose; a purpose never decided is off. */
export async function consentsOf(ctx: AppContext, userId: string): Promise<Record<Purpose, boolean>> {
  const rows = await ctx.db
    .selectFrom('consents')
    .select(['purpose', 'granted'])
    .distinctOn('purpose')
    .where('user_id', '=', userId)
    .orderBy('purpose')
    .orderBy('recorded_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
  const out = Object.fromEntries(PURPOSES.map((p) => [p, false])) as Record<Purpose, boolean>;
  for (const r of rows) out[r.purpose] = r.granted;
  return out;
}

export async function hasConsent(ctx: AppContext, userId: string, purpose: Purpose): Promise<boolean> {
  return (await consentsOf(ctx, userId))[purpose];
}

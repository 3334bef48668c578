import type { AppContext } from '../platform/context';
import {
  emailLookupHash,
  encryptField,
  newId,
  newOneTimeCode,
  oneTimeCodeHash,
  randomToken,
  safeEqual,
  sha256Hex,
} from '../platform/crypto';
import type { Db, User } from '../platform/db';
import { DomainError } from '../platform/errors';
import { claimEmail, sendClaimedToUser } from '../notifications/email';
import { currentPolicyVersion } from '../privacy/policy';

/** Wrong tries a code takes before it stops working. */
const CODE_ATTEMPTS = 5;
const codeHash = (ctx: AppContext, userId: string, code: string) =>
  oneTimeCodeHash(ctx.config.PII_HASH_KEY, 'sign-in', code, userId);

/**
 * A fresh six-digit sign-in code (earlier unused ones stop working) and the claim of its email,
 * in the caller's transaction, so a registration leaves its account, code and claim together or
 * not at all. mailSignInCode sends it after the commit.
 */
async function issueSignInCode(
  ctx: AppContext,
  trx: Db,
  userId: string,
): Promise<{ userId: string; code: string; claimId: string }> {
  const now = ctx.clock.now();
  const code = newOneTimeCode();
  const id = newId('code');
  await trx
    .updateTable('sign_in_codes')
    .set({ consumed_at: now })
    .where('user_id', '=', userId)
    .where('consumed_at', 'is', null)
    .execute();
  await trx
    .insertInto('sign_in_codes')
    .values({
      id,
      user_id: userId,
      code_hash: codeHash(ctx, userId, code),
      created_at: now,
      expires_at: new Date(now.getTime() + ctx.config.SIGN_IN_CODE_TTL_MINUTES * 60_000),
      consumed_at: null,
    })
    .execute();
  const claimId = (await claimEmail(trx, { userId, kind: 'sign-in-code', dedupeKey: `sign-in-${id}`, at: now }))!; // a new code's key is new
  return { userId, code, claimId };
}

async function mailSignInCode(
  ctx: AppContext,
  issued: { userId: string; code: string; claimId: string },
): Promise<void> {
  await sendClaimedToUser(ctx, issued.claimId, {
    userId: issued.userId,
    kind: 'sign-in-code',
    build: ({ name }) => ({
      subject: `Your Rasmi sign-in code: ${issued.code}`,
      text: `Hello ${name},\n\nYour sign-in code is ${issued.code}. It works once, for ${ctx.config.SIGN_IN_CODE_TTL_MINUTES} minutes.\nIf you did not ask for it, ignore this email.\n\nRasmi`,
    }),
  });
}

export interface Registration {
  email: string;
  name: string;
  phone?: string;
  confirmsAdult: boolean;
  acceptedPolicyVersion: string;
}

/**
 * Registers a person (AC2: an adult; AC3: the current policy accepted) and emails a sign-in code.
 * An address that already has an account gets a code too, so the answer reveals nothing.
 */
export async function register(ctx: AppContext, r: Registration): Promise<void> {
  if (!r.confirmsAdult)
    throw new DomainError(
      422,
      'underage',
      'Rasmi is for adults',
      'Rasmi is not intended for people under 18, so the account was not created.',
    );
  const current = (await currentPolicyVersion(ctx)).id;
  if (r.acceptedPolicyVersion !== current) {
    throw new DomainError(
      409,
      'policy_version_outdated',
      'Policy version is not current',
      `Accept the current privacy policy, version ${current}.`,
      { current_policy_version: current },
    );
  }
  const now = ctx.clock.now();
  const hash = emailLookupHash(ctx.config.PII_HASH_KEY, r.email);
  // The account, its first code and the claim of the code's email commit together.
  const issued = await ctx.db.transaction().execute(async (trx) => {
    const inserted = await trx
      .insertInto('users')
      .values({
        id: newId('usr'),
        email_hash: hash,
        email_enc: encryptField(ctx.pii, r.email),
        name_enc: encryptField(ctx.pii, r.name),
        phone_enc: r.phone ? encryptField(ctx.pii, r.phone) : null,
        adult_confirmed_at: now,
        policy_version_id: r.acceptedPolicyVersion,
        policy_accepted_at: now,
        created_at: now,
        last_used_at: now,
      })
      .onConflict((oc) => oc.column('email_hash').doNothing())
      .returning('id')
      .executeTakeFirst();
    const userId =
      inserted?.id ??
      (
        await trx
          .selectFrom('users')
          .select('id')
          .where('email_hash', '=', hash)
          .where('status', '=', 'active')
          .executeTakeFirst()
      )?.id;
    return userId ? issueSignInCode(ctx, trx, userId) : undefined;
  });
  if (issued) await mailSignInCode(ctx, issued);
}

/** Emails a fresh sign-in code if the address has an active account; says nothing either way. */
export async function requestSignInCode(ctx: AppContext, email: string): Promise<void> {
  const user = await ctx.db
    .selectFrom('users')
    .select('id')
    .where('email_hash', '=', emailLookupHash(ctx.config.PII_HASH_KEY, email))
    .where('status', '=', 'active')
    .executeTakeFirst();
  if (user) await mailSignInCode(ctx, await ctx.db.transaction().execute((trx) => issueSignInCode(ctx, trx, user.id)));
}

/** A session begun: the bearer token (only its hash is stored), when it ends, and whose it is. */
export interface Session {
  token: string;
  expiresAt: Date;
  user: User;
}

/** Exchanges an emailed code for a session; a wrong code counts against the code, which stops working after five. */
export async function signIn(ctx: AppContext, email: string, code: string): Promise<Session> {
  const now = ctx.clock.now();
  const invalid = new DomainError(
    401,
    'invalid_code',
    'Invalid or expired code',
    'Ask for a new code with POST /v1/auth/code.',
  );
  const user = await ctx.db
    .selectFrom('users')
    .selectAll()
    .where('email_hash', '=', emailLookupHash(ctx.config.PII_HASH_KEY, email))
    .where('status', '=', 'active')
    .executeTakeFirst();
  if (!user) throw invalid;
  const live = await ctx.db
    .selectFrom('sign_in_codes')
    .selectAll()
    .where('user_id', '=', user.id)
    .where('consumed_at', 'is', null)
    .where('expires_at', '>', now)
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  if (!live) throw invalid;
  if (!safeEqual(live.code_hash, codeHash(ctx, user.id, code))) {
    const attempts = live.attempts + 1;
    await ctx.db
      .updateTable('sign_in_codes')
      .set({ attempts, consumed_at: attempts >= CODE_ATTEMPTS ? now : null })
      .where('id', '=', live.id)
      .execute();
    throw invalid;
  }
  const consumed = await ctx.db
    .updateTable('sign_in_codes')
    .set({ consumed_at: now })
    .where('id', '=', live.id)
    .where('consumed_at', 'is', null)
    .executeTakeFirst();
  if (!consumed.numUpdatedRows) throw invalid;
  const token = randomToken();
  const expiresAt = new Date(now.getTime() + ctx.config.SESSION_TTL_HOURS * 3600_000);
  await ctx.db
    .insertInto('sessions')
    .values({
      id: newId('ses'),
      user_id: user.id,
      token_hash: sha256Hex(token),
      created_at: now,
      expires_at: expiresAt,
      revoked_at: null,
    })
    .execute();
  await ctx.db.updateTable('users').set({ last_used_at: now }).where('id', '=', user.id).execute();
  return { token, expiresAt, user };
}

/** Revokes the session a bearer token belongs to. */
export async function signOut(ctx: AppContext, token: string): Promise<void> {
  await ctx.db
    .updateTable('sessions')
    .set({ revoked_at: ctx.clock.now() })
    .where('token_hash', '=', sha256Hex(token))
    .execute();
}

import type { AppContext } from '../platform/context';
import {
  decryptField,
  emailLookupHash,
  encryptField,
  newOneTimeCode,
  oneTimeCodeHash,
  safeEqual,
} from '../platform/crypto';
import type { User } from '../platform/db';
import { DomainError } from '../platform/errors';
import { sendToAddressOnce } from '../notifications/email';
import { createRightsRequest } from '../privacy/rights';

/**
 * Correction of the profile (AC4, RG2): name and phone at once, a new email address only once
 * the code mailed to it is confirmed. Each correction is recorded as a completed rights request.
 */

/** Wrong codes a pending email change takes before it is cancelled. */
const CODE_ATTEMPTS = 5;

/** The pending code is stored as "<failed attempts>.<keyed hash>", so guessing is capped without a column. */
const codeHash = (ctx: AppContext, userId: string, emailHash: string, code: string) =>
  oneTimeCodeHash(ctx.config.PII_HASH_KEY, 'email-change', code, userId, emailHash);
const maskEmail = (email: string) => email.replace(/^(.)[^@]*/, '$1***');
const NO_PENDING_EMAIL = {
  email_pending_enc: null,
  email_pending_hash: null,
  email_pending_code_hash: null,
  email_pending_expires_at: null,
};

/** Applies a name or phone at once (null removes the phone); a new email waits for the code mailed to it. */
export async function correctProfile(
  ctx: AppContext,
  user: User,
  change: { name?: string; phone?: string | null; email?: string },
): Promise<User> {
  const now = ctx.clock.now();
  const set: { name_enc?: string; phone_enc?: string | null } = {};
  if (change.name !== undefined) set.name_enc = encryptField(ctx.pii, change.name);
  if (change.phone !== undefined) set.phone_enc = change.phone === null ? null : encryptField(ctx.pii, change.phone);
  let code: string | undefined;
  const emailSet: Record<string, string | Date | null> = {};
  if (change.email !== undefined) {
    const pendingHash = emailLookupHash(ctx.config.PII_HASH_KEY, change.email);
    if (pendingHash === user.email_hash) {
      Object.assign(emailSet, NO_PENDING_EMAIL);
    } else {
      code = newOneTimeCode();
      Object.assign(emailSet, {
        email_pending_enc: encryptField(ctx.pii, change.email),
        email_pending_hash: pendingHash,
        email_pending_code_hash: `0.${codeHash(ctx, user.id, pendingHash, code)}`,
        email_pending_expires_at: new Date(now.getTime() + ctx.config.EMAIL_CHANGE_CODE_TTL_MINUTES * 60_000),
      });
    }
  }
  const updated = await ctx.db
    .updateTable('users')
    .set({ ...set, ...emailSet })
    .where('id', '=', user.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  const corrected = Object.keys(set).map((k) => k.replace('_enc', ''));
  if (corrected.length)
    await createRightsRequest(ctx, {
      userId: user.id,
      kind: 'correction',
      status: 'completed',
      details: { fields: corrected },
    });
  if (code && change.email) {
    // To the new address: whoever confirms the code controls it (AC4).
    await sendToAddressOnce(ctx, {
      to: change.email,
      kind: 'email-change-code',
      dedupeKey: `email-change-code-${user.id}-${updated.email_pending_code_hash!.slice(2, 26)}`,
      message: {
        subject: `Confirm your new Rasmi email address: ${code}`,
        text: `Hello ${decryptField(ctx.pii, updated.name_enc)},\n\nTo use this address for your Rasmi account, confirm it with the code ${code} (POST /v1/me/email/verify). It works for ${ctx.config.EMAIL_CHANGE_CODE_TTL_MINUTES} minutes.\nUntil then your account keeps its current address. If you did not ask for this, ignore this email.\n\nRasmi`,
      },
    });
  }
  return updated;
}

/** Confirms a pending email change with its code; the old address is told, so a takeover does not go unnoticed. */
export async function confirmEmailChange(ctx: AppContext, user: User, code: string): Promise<User> {
  const now = ctx.clock.now();
  const invalid = new DomainError(
    400,
    'invalid_code',
    'Invalid or expired code',
    'Ask for a new code by sending the new email with PATCH /v1/me again.',
  );
  const stored = user.email_pending_code_hash;
  if (
    !stored ||
    !user.email_pending_enc ||
    !user.email_pending_hash ||
    !user.email_pending_expires_at ||
    new Date(user.email_pending_expires_at) <= now
  )
    throw invalid;
  const [attempts, hash] = stored.split('.');
  if (!safeEqual(hash, codeHash(ctx, user.id, user.email_pending_hash, code))) {
    const next = Number(attempts) + 1;
    await ctx.db
      .updateTable('users')
      .set(next >= CODE_ATTEMPTS ? NO_PENDING_EMAIL : { email_pending_code_hash: `${next}.${hash}` })
      .where('id', '=', user.id)
      .where('email_pending_code_hash', '=', stored)
      .execute();
    throw invalid;
  }
  const taken = new DomainError(
    409,
    'email_taken',
    'Email address in use',
    'Another account uses this address; the change was cancelled.',
  );
  const other = await ctx.db
    .selectFrom('users')
    .select('id')
    .where('email_hash', '=', user.email_pending_hash)
    .where('id', '!=', user.id)
    .executeTakeFirst();
  if (other) {
    await ctx.db.updateTable('users').set(NO_PENDING_EMAIL).where('id', '=', user.id).execute();
    throw taken;
  }
  const oldEmail = decryptField(ctx.pii, user.email_enc);
  const newEmail = decryptField(ctx.pii, user.email_pending_enc);
  let updated: User | undefined;
  try {
    updated = await ctx.db
      .updateTable('users')
      .set({ email_hash: user.email_pending_hash, email_enc: user.email_pending_enc, ...NO_PENDING_EMAIL })
      .where('id', '=', user.id)
      .where('email_pending_code_hash', '=', stored)
      .returningAll()
      .executeTakeFirst();
  } catch (err) {
    if ((err as { code?: string }).code === '23505') throw taken; // lost a race for the address
    throw err;
  }
  if (!updated) throw invalid; // confirmed concurrently by another request
  const request = await createRightsRequest(ctx, {
    userId: user.id,
    kind: 'correction',
    status: 'completed',
    details: { fields: ['email'] },
  });
  await sendToAddressOnce(ctx, {
    to: oldEmail,
    kind: 'email-changed',
    dedupeKey: `email-changed-${request.id}`,
    message: {
      subject: 'The email address of your Rasmi account was changed',
      text: `Hello,\n\nThe email address of your Rasmi account was changed from this address to ${maskEmail(newEmail)} on ${now.toISOString()}.\nIf you did not do this, write to ${ctx.config.PRIVACY_TEAM_EMAIL} at once.\n\nRasmi`,
    },
  });
  return updated;
}

import type { Router } from 'express';
import { emailLookupHash, encryptField, newId, newOneTimeCode, oneTimeCodeHash, randomToken, safeEqual, sha256Hex } from '../../core/platform/crypto';
import { currentPolicyVersion } from '../../core/privacy/policy';
import { claimEmail, sendClaimedToUser } from '../../core/notifications/email';
import type { Db } from '../../core/platform/db';
import type { AppContext } from '../../core/platform/context';
import { ctxOf } from '../auth';
import { z } from '../openapi';
import { HttpError } from '../problem';
import { route } from '../route';
import { me, Me } from '../account-out';

const E164 = /^\+[1-9]\d{6,14}$/;

const Register = z
  .object({
    email: z.string().trim().toLowerCase().pipe(z.email()).openapi({ example: 'ada@example.com' }),
    name: z.string().trim().min(1).max(200),
    phone: z.string().regex(E164, 'phone must be in E.164 form, e.g. +41791234567').optional(),
    confirms_adult: z.boolean().openapi({ description: 'The person confirms they are 18 or older (AC2).' }),
    accepted_policy_version: z.string().openapi({ description: 'Id of the privacy policy version the person accepted (AC3).' }),
  })
  .openapi('Registration');

const RequestCode = z.object({ email: z.string().trim().toLowerCase().pipe(z.email()) }).openapi('SignInCodeRequest');
const ExchangeCode = z.object({ email: z.string().trim().toLowerCase().pipe(z.email()), code: z.string().regex(/^\d{6}$/) }).openapi('SignInCode');

const Accepted = z.object({ status: z.literal('code_sent'), detail: z.string() }).openapi('CodeSent');
const Token = z.object({ token: z.string(), token_type: z.literal('Bearer'), expires_at: z.string().datetime(), user: Me }).openapi('Token');

const CODE_ATTEMPTS = 5;
const codeHash = (ctx: AppContext, userId: string, code: string) => oneTimeCodeHash(ctx.config.PII_HASH_KEY, 'sign-in', code, userId);

/**
 * A fresh six-digit sign-in code (earlier unused ones stop working) and the claim of its email,
 * in the caller's transaction, so a registration leaves its account, code and claim together or
 * not at all. mailSignInCode sends it after the commit.
 */
async function issueSignInCode(ctx: AppContext, trx: Db, userId: string): Promise<{ userId: string; code: string; claimId: string }> {
  const now = ctx.clock.now();
  const code = newOneTimeCode();
  const id = newId('code');
  await trx.updateTable('sign_in_codes').set({ consumed_at: now }).where('user_id', '=', userId).where('consumed_at', 'is', null).execute();
  await trx
    .insertInto('sign_in_codes')
    .values({ id, user_id: userId, code_hash: codeHash(ctx, userId, code), created_at: now, expires_at: new Date(now.getTime() + ctx.config.SIGN_IN_CODE_TTL_MINUTES * 60_000), consumed_at: null })
    .execute();
  const claimId = (await claimEmail(trx, { userId, kind: 'sign-in-code', dedupeKey: `sign-in-${id}`, at: now }))!; // a new code's key is new
  return { userId, code, claimId };
}

async function mailSignInCode(ctx: AppContext, issued: { userId: string; code: string; claimId: string }): Promise<void> {
  await sendClaimedToUser(ctx, issued.claimId, {
    userId: issued.userId,
    kind: 'sign-in-code',
    build: ({ name }) => ({
      subject: `Your Rasmi sign-in code: ${issued.code}`,
      text: `Hello ${name},\n\nYour sign-in code is ${issued.code}. It works once, for ${ctx.config.SIGN_IN_CODE_TTL_MINUTES} minutes.\nIf you did not ask for it, ignore this email.\n\nRasmi`,
    }),
  });
}

/** Emails a fresh six-digit sign-in code to an existing account. */
async function sendSignInCode(ctx: AppContext, userId: string): Promise<void> {
  await mailSignInCode(ctx, await ctx.db.transaction().execute((trx) => issueSignInCode(ctx, trx, userId)));
}

export function accountRoutes(router: Router): void {
  route(
    router,
    {
      method: 'post',
      path: '/v1/accounts',
      operationId: 'register',
      summary: 'Register; a sign-in code is emailed',
      tags: ['Accounts'],
      auth: 'none',
      rateLimit: 'sign-in',
      body: Register,
      responses: { 202: { description: 'A sign-in code was emailed (also when the address already has an account, so the answer reveals nothing).', schema: Accepted } },
      errors: { 409: 'policy_version_outdated', 422: 'underage' },
    },
    async (req, res, { body: b }) => {
      const ctx = ctxOf(req);
      if (!b.confirms_adult) throw new HttpError(422, 'underage', 'Rasmi is for adults', 'Rasmi is not intended for people under 18, so the account was not created.');
      const current = (await currentPolicyVersion(ctx)).id;
      if (b.accepted_policy_version !== current) {
        throw new HttpError(409, 'policy_version_outdated', 'Policy version is not current', `Accept the current privacy policy, version ${current}.`, { current_policy_version: current });
      }
      const now = ctx.clock.now();
      const hash = emailLookupHash(ctx.config.PII_HASH_KEY, b.email);
      // The account, its first code and the claim of the code's email commit together.
      const issued = await ctx.db.transaction().execute(async (trx) => {
        const inserted = await trx
          .insertInto('users')
          .values({
            id: newId('usr'),
            email_hash: hash,
            email_enc: encryptField(ctx.pii, b.email),
            name_enc: encryptField(ctx.pii, b.name),
            phone_enc: b.phone ? encryptField(ctx.pii, b.phone) : null,
            adult_confirmed_at: now,
            policy_version_id: b.accepted_policy_version,
            policy_accepted_at: now,
            created_at: now,
            last_used_at: now,
          })
          .onConflict((oc) => oc.column('email_hash').doNothing())
          .returning('id')
          .executeTakeFirst();
        const userId = inserted?.id ?? (await trx.selectFrom('users').select('id').where('email_hash', '=', hash).where('status', '=', 'active').executeTakeFirst())?.id;
        return userId ? issueSignInCode(ctx, trx, userId) : undefined;
      });
      if (issued) await mailSignInCode(ctx, issued);
      res.status(202).json({ status: 'code_sent', detail: 'Check your email for a six-digit sign-in code.' });
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/auth/code',
      operationId: 'requestSignInCode',
      summary: 'Email a sign-in code',
      tags: ['Accounts'],
      auth: 'none',
      rateLimit: 'sign-in',
      body: RequestCode,
      responses: { 202: { description: 'If the address has an account, a code was emailed.', schema: Accepted } },
    },
    async (req, res, { body }) => {
      const ctx = ctxOf(req);
      const user = await ctx.db.selectFrom('users').select('id').where('email_hash', '=', emailLookupHash(ctx.config.PII_HASH_KEY, body.email)).where('status', '=', 'active').executeTakeFirst();
      if (user) await sendSignInCode(ctx, user.id);
      res.status(202).json({ status: 'code_sent', detail: 'If this address has an account, a sign-in code is on its way.' });
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/auth/token',
      operationId: 'signIn',
      summary: 'Exchange an emailed code for a bearer token',
      tags: ['Accounts'],
      auth: 'none',
      rateLimit: 'sign-in',
      body: ExchangeCode,
      responses: { 200: { description: 'A bearer token; only its hash is stored.', schema: Token } },
      errors: { 401: 'invalid_code' },
    },
    async (req, res, { body }) => {
      const ctx = ctxOf(req);
      const now = ctx.clock.now();
      const invalid = new HttpError(401, 'invalid_code', 'Invalid or expired code', 'Ask for a new code with POST /v1/auth/code.');
      const user = await ctx.db.selectFrom('users').selectAll().where('email_hash', '=', emailLookupHash(ctx.config.PII_HASH_KEY, body.email)).where('status', '=', 'active').executeTakeFirst();
      if (!user) throw invalid;
      const code = await ctx.db
        .selectFrom('sign_in_codes')
        .selectAll()
        .where('user_id', '=', user.id)
        .where('consumed_at', 'is', null)
        .where('expires_at', '>', now)
        .orderBy('created_at', 'desc')
        .executeTakeFirst();
      if (!code) throw invalid;
      if (!safeEqual(code.code_hash, codeHash(ctx, user.id, body.code))) {
        const attempts = code.attempts + 1;
        await ctx.db.updateTable('sign_in_codes').set({ attempts, consumed_at: attempts >= CODE_ATTEMPTS ? now : null }).where('id', '=', code.id).execute();
        throw invalid;
      }
      const consumed = await ctx.db.updateTable('sign_in_codes').set({ consumed_at: now }).where('id', '=', code.id).where('consumed_at', 'is', null).executeTakeFirst();
      if (!consumed.numUpdatedRows) throw invalid;
      const token = randomToken();
      const expiresAt = new Date(now.getTime() + ctx.config.SESSION_TTL_HOURS * 3600_000);
      await ctx.db.insertInto('sessions').values({ id: newId('ses'), user_id: user.id, token_hash: sha256Hex(token), created_at: now, expires_at: expiresAt, revoked_at: null }).execute();
      await ctx.db.updateTable('users').set({ last_used_at: now }).where('id', '=', user.id).execute();
      res.json({ token, token_type: 'Bearer', expires_at: expiresAt.toISOString(), user: me(ctx, user) });
    },
  );

  route(
    router,
    { method: 'post', path: '/v1/auth/sign-out', operationId: 'signOut', summary: 'Revoke the current token', tags: ['Accounts'], auth: 'user', responses: { 204: { description: 'Signed out' } } },
    async (req, res) => {
      const ctx = ctxOf(req);
      const token = req.headers.authorization!.slice('Bearer '.length);
      await ctx.db.updateTable('sessions').set({ revoked_at: ctx.clock.now() }).where('token_hash', '=', sha256Hex(token)).execute();
      res.status(204).end();
    },
  );

  route(
    router,
    { method: 'get', path: '/v1/me', operationId: 'getMe', summary: 'The signed-in person', tags: ['Accounts'], auth: 'user', responses: { 200: { description: 'Profile', schema: Me } } },
    async (req, res, { user }) => {
      res.json(me(ctxOf(req), user));
    },
  );
}

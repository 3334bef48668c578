import type { Router } from 'express';
import { DAY_MS } from '../../core/platform/config';
import type { AppContext } from '../../core/platform/context';
import { decryptField, emailLookupHash, encryptField, newOneTimeCode, oneTimeCodeHash, safeEqual, signToken, verifyToken } from '../../core/platform/crypto';
import { type Purpose, type User } from '../../core/platform/db';
import { recordConsent } from '../../core/privacy/consent';
import { applyWithdrawal } from '../../core/privacy/consent-changes';
import { sendToAddressOnce } from '../../core/notifications/email';
import { blockForDeletion, createRightsRequest, driveRightsRequest, retainedOnDeletion } from '../../core/privacy/rights';
import { ctxOf } from '../auth';
import { idempotent } from '../idempotency';
import { z } from '../openapi';
import { HttpError, notFound } from '../problem';
import { route } from '../route';
import { Cursor, IdParam, idOf, iso, page, pageOf, TokenParam } from '../schemas';
import { streamBlob } from '../stream-blob';


const RightsRequestId = IdParam('rrq', 'rights request');
/**
 * The rights of the person (policy §6): correction of the profile (AC4, RG2) and rights requests
 * for access (RG1), deletion (RG3), restriction (RG4) and objection (RG5), each tracked with its
 * deadline (RG6).
 */

const E164 = /^\+[1-9]\d{6,14}$/;
const CODE_ATTEMPTS = 5;

const ProfilePatch = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    phone: z.string().regex(E164, 'phone must be in E.164 form, e.g. +41791234567').nullable().optional().openapi({ description: 'null removes the number' }),
    email: z.string().trim().toLowerCase().pipe(z.email()).optional().openapi({ description: 'Applied only after the code mailed to the new address is confirmed' }),
  })
  .refine((b) => b.name !== undefined || b.phone !== undefined || b.email !== undefined, 'change at least one of name, phone, email')
  .openapi('ProfilePatch');

const Profile = z
  .object({
    id: z.string(),
    email: z.string(),
    name: z.string(),
    phone: z.string().nullable(),
    email_change: z.object({ email: z.string(), expires_at: z.string().datetime() }).nullable().openapi({ description: 'A new address waiting for its code' }),
  })
  .openapi('Profile');

const Purposes = z.array(z.enum(['analytics', 'service_improvement', 'marketing', 'portfolio', 'whatsapp'])).min(1).max(5);

const CreateRightsRequest = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('access') }),
    z.object({ kind: z.literal('deletion') }),
    z.object({ kind: z.literal('restriction'), purposes: Purposes }),
    z.object({
      kind: z.literal('objection'),
      purposes: Purposes,
      basis: z.enum(['objection', 'withdrawal']).default('objection').openapi({ description: 'An objection to processing, or the withdrawal of a consent given' }),
    }),
  ])
  .openapi('CreateRightsRequest');

const RightsRequestOut = z
  .object({
    id: z.string(),
    kind: z.enum(['access', 'deletion', 'correction', 'restriction', 'objection']),
    status: z.enum(['open', 'in_progress', 'completed', 'rejected']),
    details: z.record(z.string(), z.unknown()).nullable(),
    result: z.record(z.string(), z.unknown()).nullable().openapi({ description: 'For deletion: `retained` names the records kept for legal or accounting purposes' }),
    received_at: z.string().datetime(),
    due_at: z.string().datetime(),
    completed_at: z.string().datetime().nullable(),
    export: z
      .object({ download_url: z.string(), expires_at: z.string().datetime() })
      .nullable()
      .openapi({ description: 'Access requests: the archive while it is kept' }),
  })
  .openapi('RightsRequest');

const Link = z.object({ url: z.string(), expires_at: z.string().datetime() }).openapi('ExportLink');

type RightsRow = Awaited<ReturnType<typeof createRightsRequest>>;

function requestOut(ctx: AppContext, r: RightsRow): z.infer<typeof RightsRequestOut> {
  const available = r.kind === 'access' && r.export_blob_id && r.completed_at;
  return {
    id: r.id,
    kind: r.kind,
    status: r.status,
    details: (r.details as Record<string, unknown> | null) ?? null,
    result: (r.result as Record<string, unknown> | null) ?? null,
    received_at: iso(r.received_at)!,
    due_at: iso(r.due_at)!,
    completed_at: iso(r.completed_at),
    export: available ? { download_url: `/v1/rights-requests/${r.id}/download`, expires_at: new Date(new Date(r.completed_at!).getTime() + ctx.config.EXPORT_RETENTION_DAYS * DAY_MS).toISOString() } : null,
  };
}

function profileOut(ctx: AppContext, u: User): z.infer<typeof Profile> {
  const pending = u.email_pending_enc && u.email_pending_expires_at && new Date(u.email_pending_expires_at) > ctx.clock.now();
  return {
    id: u.id,
    email: decryptField(ctx.pii, u.email_enc),
    name: decryptField(ctx.pii, u.name_enc),
    phone: u.phone_enc ? decryptField(ctx.pii, u.phone_enc) : null,
    email_change: pending ? { email: decryptField(ctx.pii, u.email_pending_enc!), expires_at: iso(u.email_pending_expires_at)! } : null,
  };
}

/** The pending code is stored as "<failed attempts>.<keyed hash>", so guessing is capped without a column. */
const codeHash = (ctx: AppContext, userId: string, emailHash: string, code: string) => oneTimeCodeHash(ctx.config.PII_HASH_KEY, 'email-change', code, userId, emailHash);
const maskEmail = (email: string) => email.replace(/^(.)[^@]*/, '$1***');

async function ownedRequest(ctx: AppContext, userId: string, id: string): Promise<RightsRow> {
  const r = await ctx.db.selectFrom('rights_requests').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  if (!r) throw notFound('Rights request');
  return r;
}

async function exportBlob(ctx: AppContext, r: RightsRow) {
  if (r.kind !== 'access' || r.status !== 'completed') throw new HttpError(409, 'export_not_ready', 'Export not ready', 'The export is still being prepared; you get an email when it is ready.');
  const blob = r.export_blob_id ? await ctx.db.selectFrom('blobs').selectAll().where('id', '=', r.export_blob_id).executeTakeFirst() : undefined;
  if (!blob) throw new HttpError(410, 'export_expired', 'Export deleted', `Exports are kept for ${ctx.config.EXPORT_RETENTION_DAYS} days; ask for a new one.`);
  return blob;
}

export function rightsRoutes(router: Router): void {
  route(
    router,
    {
      method: 'patch',
      path: '/v1/me',
      operationId: 'updateMe',
      summary: 'Correct your profile: name and phone at once, a new email once its code is confirmed',
      tags: ['Accounts', 'Rights'],
      auth: 'user',
      body: ProfilePatch,
      responses: { 200: { description: 'The profile; email_change shows an address awaiting its code', schema: Profile } },
    },
    async (req, res, { user, body }) => {
      const ctx = ctxOf(req);
      const now = ctx.clock.now();
      const set: { name_enc?: string; phone_enc?: string | null } = {};
      if (body.name !== undefined) set.name_enc = encryptField(ctx.pii, body.name);
      if (body.phone !== undefined) set.phone_enc = body.phone === null ? null : encryptField(ctx.pii, body.phone);
      let code: string | undefined;
      let pendingHash: string | undefined;
      const emailSet: Record<string, string | Date | null> = {};
      if (body.email !== undefined) {
        pendingHash = emailLookupHash(ctx.config.PII_HASH_KEY, body.email);
        if (pendingHash === user.email_hash) {
          Object.assign(emailSet, { email_pending_enc: null, email_pending_hash: null, email_pending_code_hash: null, email_pending_expires_at: null });
        } else {
          code = newOneTimeCode();
          Object.assign(emailSet, {
            email_pending_enc: encryptField(ctx.pii, body.email),
            email_pending_hash: pendingHash,
            email_pending_code_hash: `0.${codeHash(ctx, user.id, pendingHash, code)}`,
            email_pending_expires_at: new Date(now.getTime() + ctx.config.EMAIL_CHANGE_CODE_TTL_MINUTES * 60_000),
          });
        }
      }
      const updated = await ctx.db.updateTable('users').set({ ...set, ...emailSet }).where('id', '=', user.id).returningAll().executeTakeFirstOrThrow();
      const corrected = Object.keys(set).map((k) => k.replace('_enc', ''));
      if (corrected.length) await createRightsRequest(ctx, { userId: user.id, kind: 'correction', status: 'completed', details: { fields: corrected } });
      if (code && body.email) {
        // To the new address: whoever confirms the code controls it (AC4).
        await sendToAddressOnce(ctx, {
          to: body.email,
          kind: 'email-change-code',
          dedupeKey: `email-change-code-${user.id}-${updated.email_pending_code_hash!.slice(2, 26)}`,
          message: {
            subject: `Confirm your new Rasmi email address: ${code}`,
            text: `Hello ${decryptField(ctx.pii, updated.name_enc)},\n\nTo use this address for your Rasmi account, confirm it with the code ${code} (POST /v1/me/email/verify). It works for ${ctx.config.EMAIL_CHANGE_CODE_TTL_MINUTES} minutes.\nUntil then your account keeps its current address. If you did not ask for this, ignore this email.\n\nRasmi`,
          },
        });
      }
      res.json(profileOut(ctx, updated));
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/me/email/verify',
      operationId: 'verifyEmailChange',
      summary: 'Confirm a new email address with the code mailed to it; the old address is told',
      tags: ['Accounts', 'Rights'],
      auth: 'user',
      body: z.object({ code: z.string().regex(/^\d{6}$/) }).openapi('EmailVerification'),
      responses: { 200: { description: 'The new address is in use', schema: Profile } },
      errors: { 400: 'invalid_code', 409: 'email_taken' },
    },
    async (req, res, { user, body }) => {
      const ctx = ctxOf(req);
      const now = ctx.clock.now();
      const invalid = new HttpError(400, 'invalid_code', 'Invalid or expired code', 'Ask for a new code by sending the new email with PATCH /v1/me again.');
      const clear = { email_pending_enc: null, email_pending_hash: null, email_pending_code_hash: null, email_pending_expires_at: null };
      const stored = user.email_pending_code_hash;
      if (!stored || !user.email_pending_enc || !user.email_pending_hash || !user.email_pending_expires_at || new Date(user.email_pending_expires_at) <= now) throw invalid;
      const [attempts, hash] = stored.split('.');
      if (!safeEqual(hash, codeHash(ctx, user.id, user.email_pending_hash, body.code))) {
        const next = Number(attempts) + 1;
        await ctx.db
          .updateTable('users')
          .set(next >= CODE_ATTEMPTS ? clear : { email_pending_code_hash: `${next}.${hash}` })
          .where('id', '=', user.id)
          .where('email_pending_code_hash', '=', stored)
          .execute();
        throw invalid;
      }
      const taken = new HttpError(409, 'email_taken', 'Email address in use', 'Another account uses this address; the change was cancelled.');
      const other = await ctx.db.selectFrom('users').select('id').where('email_hash', '=', user.email_pending_hash).where('id', '!=', user.id).executeTakeFirst();
      if (other) {
        await ctx.db.updateTable('users').set(clear).where('id', '=', user.id).execute();
        throw taken;
      }
      const oldEmail = decryptField(ctx.pii, user.email_enc);
      const newEmail = decryptField(ctx.pii, user.email_pending_enc);
      let updated: User | undefined;
      try {
        updated = await ctx.db
          .updateTable('users')
          .set({ email_hash: user.email_pending_hash, email_enc: user.email_pending_enc, ...clear })
          .where('id', '=', user.id)
          .where('email_pending_code_hash', '=', stored)
          .returningAll()
          .executeTakeFirst();
      } catch (err) {
        if ((err as { code?: string }).code === '23505') throw taken; // lost a race for the address
        throw err;
      }
      if (!updated) throw invalid; // confirmed concurrently by another request
      const request = await createRightsRequest(ctx, { userId: user.id, kind: 'correction', status: 'completed', details: { fields: ['email'] } });
      // The old address hears of the change, so a takeover does not go unnoticed.
      await sendToAddressOnce(ctx, {
        to: oldEmail,
        kind: 'email-changed',
        dedupeKey: `email-changed-${request.id}`,
        message: {
          subject: 'The email address of your Rasmi account was changed',
          text: `Hello,\n\nThe email address of your Rasmi account was changed from this address to ${maskEmail(newEmail)} on ${now.toISOString()}.\nIf you did not do this, write to ${ctx.config.PRIVACY_TEAM_EMAIL} at once.\n\nRasmi`,
        },
      });
      res.json(profileOut(ctx, updated));
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/rights-requests',
      operationId: 'createRightsRequest',
      idempotent: true,
      summary: 'Exercise a right: access (export), deletion, restriction or objection',
      tags: ['Rights'],
      auth: 'user',
      rateLimit: 'rights',
      body: CreateRightsRequest,
      responses: {
        201: { description: 'Restriction or objection: in force at once', schema: RightsRequestOut },
        202: { description: 'Access or deletion: accepted; poll the request. Deletion blocks the account at once and names what is retained.', schema: RightsRequestOut },
      },
      errors: { 422: 'idempotency_key_reused' },
    },
    async (req, res, { user, body }) => {
      const ctx = ctxOf(req);
      let created: RightsRow | undefined;
      let refused: { purposes: readonly Purpose[]; source: string } | undefined;
      await idempotent(ctx, req, res, user.id, async (tx) => {
        if (body.kind === 'restriction' || body.kind === 'objection') {
          // RG4, RG5: a refusal per purpose, always (the history shows the request), committed with
          // the request and in force from then on; what it removes (portfolio copies, marketing
          // data) follows at once rather than being left to the consent sweep.
          const source = body.kind === 'objection' ? body.basis : 'restriction';
          for (const p of new Set(body.purposes)) await recordConsent(tx, user.id, p, false, source);
          refused = { purposes: body.purposes, source };
          const r = await createRightsRequest(tx, {
            userId: user.id,
            kind: body.kind,
            status: 'completed',
            details: { purposes: body.purposes, ...(body.kind === 'objection' ? { basis: body.basis } : {}) },
            result: { refused_purposes: body.purposes, effective_at: ctx.clock.now().toISOString(), re_enable: 'opt in again in your consent settings' },
          });
          return { status: 201, body: requestOut(ctx, r) };
        }
        if (body.kind === 'deletion') {
          const retained = await retainedOnDeletion(tx, user.id);
          created = await createRightsRequest(tx, { userId: user.id, kind: 'deletion', status: 'open', result: { retained } });
          await blockForDeletion(tx, user.id);
        } else {
          created = await createRightsRequest(tx, { userId: user.id, kind: 'access', status: 'open' });
        }
        return { status: 202, body: requestOut(ctx, created) };
      });
      // RG5: effective immediately; were this to fail, the consent-withdrawal sweep applies it.
      if (refused) for (const p of new Set(refused.purposes)) await applyWithdrawal(ctx, user.id, p, refused.source);
      // After the answer is stored: the deletion job removes the user, and with it their idempotency keys.
      if (created) {
        await driveRightsRequest(ctx, created).catch((err) => req.log?.warn({ err, requestId: created!.id }, 'rights job not enqueued; the deadline sweep re-drives it'));
      }
    },
  );

  route(
    router,
    { method: 'get', path: '/v1/rights-requests', operationId: 'listRightsRequests', summary: 'Your rights requests with their deadlines', tags: ['Rights'], auth: 'user', query: Cursor(idOf('rrq', 'rights request')), responses: { 200: { description: 'Newest first', schema: page(RightsRequestOut, 'RightsRequestPage') } } },
    async (req, res, { user, query }) => {
      const ctx = ctxOf(req);
      let q = ctx.db.selectFrom('rights_requests').selectAll().where('user_id', '=', user.id).orderBy('id', 'desc').limit(query.limit + 1);
      if (query.cursor) q = q.where('id', '<', query.cursor);
      const { items, next_cursor } = pageOf(await q.execute(), query.limit);
      res.json({ items: items.map((r) => requestOut(ctx, r)), next_cursor });
    },
  );

  route(
    router,
    { method: 'get', path: '/v1/rights-requests/:id', operationId: 'getRightsRequest', summary: 'One of your rights requests', tags: ['Rights'], auth: 'user', params: RightsRequestId, responses: { 200: { description: 'Request', schema: RightsRequestOut } }, errors: { 404: 'not_found' } },
    async (req, res, { user, params }) => {
      const ctx = ctxOf(req);
      res.json(requestOut(ctx, await ownedRequest(ctx, user.id, params.id)));
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/rights-requests/:id/download',
      operationId: 'downloadExport',
      summary: 'Download your data export (ZIP: data.json, photos, headshots)',
      tags: ['Rights'],
      auth: 'user',
      params: RightsRequestId,
      responses: { 200: { description: 'ZIP archive', contentType: 'application/zip' } },
      errors: { 404: 'not_found', 409: 'export_not_ready', 410: 'export_expired' },
    },
    async (req, res, { user, params }) => {
      const ctx = ctxOf(req);
      const r = await ownedRequest(ctx, user.id, params.id);
      await streamBlob(ctx, await exportBlob(ctx, r), res, `rasmi-export-${r.id}.zip`);
    },
  );

  route(
    router,
    { method: 'post', path: '/v1/rights-requests/:id/link', operationId: 'createExportLink', summary: 'A download link for your export that expires within minutes', tags: ['Rights'], auth: 'user', params: RightsRequestId, responses: { 201: { description: 'Signed link', schema: Link } }, errors: { 404: 'not_found', 409: 'export_not_ready', 410: 'export_expired' } },
    async (req, res, { user, params }) => {
      const ctx = ctxOf(req);
      const r = await ownedRequest(ctx, user.id, params.id);
      await exportBlob(ctx, r);
      const exp = Math.floor(ctx.clock.now().getTime() / 1000) + ctx.config.DOWNLOAD_LINK_TTL_SECONDS;
      const token = signToken(ctx.config.LINK_SECRET, 'export-download', { r: r.id, u: user.id, exp });
      res.status(201).json({ url: `${ctx.publicUrl}/v1/export-downloads/${token}`, expires_at: new Date(exp * 1000).toISOString() });
    },
  );

  route(
    router,
    { method: 'get', path: '/v1/export-downloads/:token', operationId: 'followExportLink', summary: 'Follow a signed export link', tags: ['Rights'], auth: 'none', params: TokenParam, responses: { 200: { description: 'ZIP archive', contentType: 'application/zip' } }, errors: { 403: 'link_invalid', 410: 'link_expired, export_expired' } },
    async (req, res, { params }) => {
      const ctx = ctxOf(req);
      const claim = verifyToken<{ r: string; u: string; exp: number }>(ctx.config.LINK_SECRET, 'export-download', params.token);
      if (!claim) throw new HttpError(403, 'link_invalid', 'Invalid link', 'This download link is not valid.');
      if (claim.exp * 1000 < ctx.clock.now().getTime()) throw new HttpError(410, 'link_expired', 'Link expired', 'Ask for a new link from your rights request.');
      const owner = await ctx.db.selectFrom('users').select('id').where('id', '=', claim.u).where('status', '=', 'active').executeTakeFirst();
      if (!owner) throw new HttpError(410, 'export_expired', 'No longer available', 'This export is no longer available.');
      const r = await ownedRequest(ctx, claim.u, claim.r);
      await streamBlob(ctx, await exportBlob(ctx, r), res, `rasmi-export-${r.id}.zip`);
    },
  );
}

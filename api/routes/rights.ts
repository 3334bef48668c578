import type { Router } from 'express';
import { confirmEmailChange, correctProfile } from '../../core/accounts/profile';
import { DAY_MS } from '../../core/platform/config';
import type { AppContext } from '../../core/platform/context';
import { decryptField, signToken, verifyToken } from '../../core/platform/crypto';
import type { User } from '../../core/platform/records';
import {
  exportBlob,
  fileRightsRequest,
  followUpRightsRequest,
  linkedExport,
  ownedRightsRequest,
  rightsRequestsPage,
  type FiledRequest,
  type RightsRow,
} from '../../core/privacy/rights-requests';
import { ctxOf } from '../auth';
import { idempotent } from '../idempotency';
import { z } from '../openapi';
import { HttpError } from '../problem';
import { route } from '../route';
import { Cursor, IdParam, idOf, iso, page, TokenParam } from '../schemas';
import { streamBlob } from '../stream-blob';

/**
 * The rights of the person (policy §6): correction of the profile (AC4, RG2; core/accounts/profile.ts)
 * and rights requests for access (RG1), deletion (RG3), restriction (RG4) and objection (RG5), each
 * tracked with its deadline (RG6; core/privacy/rights-requests.ts).
 */

const RightsRequestId = IdParam('rrq', 'rights request');
const E164 = /^\+[1-9]\d{6,14}$/;

const ProfilePatch = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    phone: z
      .string()
      .regex(E164, 'phone must be in E.164 form, e.g. +41791234567')
      .nullable()
      .optional()
      .openapi({ description: 'null removes the number' }),
    email: z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.email())
      .optional()
      .openapi({ description: 'Applied only after the code mailed to the new address is confirmed' }),
  })
  .refine(
    (b) => b.name !== undefined || b.phone !== undefined || b.email !== undefined,
    'change at least one of name, phone, email',
  )
  .openapi('ProfilePatch');

const Profile = z
  .object({
    id: z.string(),
    email: z.string(),
    name: z.string(),
    phone: z.string().nullable(),
    email_change: z
      .object({ email: z.string(), expires_at: z.string().datetime() })
      .nullable()
      .openapi({ description: 'A new address waiting for its code' }),
  })
  .openapi('Profile');

const Purposes = z
  .array(z.enum(['analytics', 'service_improvement', 'marketing', 'portfolio', 'whatsapp']))
  .min(1)
  .max(5);

const CreateRightsRequest = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('access') }),
    z.object({ kind: z.literal('deletion') }),
    z.object({ kind: z.literal('restriction'), purposes: Purposes }),
    z.object({
      kind: z.literal('objection'),
      purposes: Purposes,
      basis: z
        .enum(['objection', 'withdrawal'])
        .default('objection')
        .openapi({ description: 'An objection to processing, or the withdrawal of a consent given' }),
    }),
  ])
  .openapi('CreateRightsRequest');

const RightsRequestOut = z
  .object({
    id: z.string(),
    kind: z.enum(['access', 'deletion', 'correction', 'restriction', 'objection']),
    status: z.enum(['open', 'in_progress', 'completed', 'rejected']),
    details: z.record(z.string(), z.unknown()).nullable(),
    result: z
      .record(z.string(), z.unknown())
      .nullable()
      .openapi({ description: 'For deletion: `retained` names the records kept for legal or accounting purposes' }),
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
    export: available
      ? {
          download_url: `/v1/rights-requests/${r.id}/download`,
          expires_at: new Date(
            new Date(r.completed_at!).getTime() + ctx.config.EXPORT_RETENTION_DAYS * DAY_MS,
          ).toISOString(),
        }
      : null,
  };
}

function profileOut(ctx: AppContext, u: User): z.infer<typeof Profile> {
  const pending =
    u.email_pending_enc && u.email_pending_expires_at && new Date(u.email_pending_expires_at) > ctx.clock.now();
  return {
    id: u.id,
    email: decryptField(ctx.pii, u.email_enc),
    name: decryptField(ctx.pii, u.name_enc),
    phone: u.phone_enc ? decryptField(ctx.pii, u.phone_enc) : null,
    email_change: pending
      ? { email: decryptField(ctx.pii, u.email_pending_enc!), expires_at: iso(u.email_pending_expires_at)! }
      : null,
  };
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
      responses: {
        200: { description: 'The profile; email_change shows an address awaiting its code', schema: Profile },
      },
    },
    async (req, res, { user, body }) => {
      const ctx = ctxOf(req);
      const updated = await correctProfile(ctx, user, body);
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
      const updated = await confirmEmailChange(ctx, user, body.code);
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
        202: {
          description:
            'Access or deletion: accepted; poll the request. Deletion blocks the account at once and names what is retained.',
          schema: RightsRequestOut,
        },
      },
      errors: { 422: 'idempotency_key_reused' },
    },
    async (req, res, { user, body }) => {
      const ctx = ctxOf(req);
      let filed: FiledRequest | undefined;
      await idempotent(ctx, req, res, user.id, async (tx) => {
        filed = await fileRightsRequest(tx, user.id, body);
        return { status: filed.immediate ? 201 : 202, body: requestOut(ctx, filed.request) };
      });
      // After the answer is stored (not on a replay): the deletion job removes the user, and with it their idempotency keys.
      if (filed) await followUpRightsRequest(ctx, user.id, filed);
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/rights-requests',
      operationId: 'listRightsRequests',
      summary: 'Your rights requests with their deadlines',
      tags: ['Rights'],
      auth: 'user',
      query: Cursor(idOf('rrq', 'rights request')),
      responses: { 200: { description: 'Newest first', schema: page(RightsRequestOut, 'RightsRequestPage') } },
    },
    async (req, res, { user, query }) => {
      const ctx = ctxOf(req);
      const { items, next_cursor } = await rightsRequestsPage(ctx, user.id, query);
      res.json({ items: items.map((r) => requestOut(ctx, r)), next_cursor });
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/rights-requests/:id',
      operationId: 'getRightsRequest',
      summary: 'One of your rights requests',
      tags: ['Rights'],
      auth: 'user',
      params: RightsRequestId,
      responses: { 200: { description: 'Request', schema: RightsRequestOut } },
      errors: { 404: 'not_found' },
    },
    async (req, res, { user, params }) => {
      const ctx = ctxOf(req);
      res.json(requestOut(ctx, await ownedRightsRequest(ctx, user.id, params.id)));
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
      const r = await ownedRightsRequest(ctx, user.id, params.id);
      await streamBlob(ctx, await exportBlob(ctx, r), res, `rasmi-export-${r.id}.zip`);
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/rights-requests/:id/link',
      operationId: 'createExportLink',
      summary: 'A download link for your export that expires within minutes',
      tags: ['Rights'],
      auth: 'user',
      params: RightsRequestId,
      responses: { 201: { description: 'Signed link', schema: Link } },
      errors: { 404: 'not_found', 409: 'export_not_ready', 410: 'export_expired' },
    },
    async (req, res, { user, params }) => {
      const ctx = ctxOf(req);
      const r = await ownedRightsRequest(ctx, user.id, params.id);
      await exportBlob(ctx, r);
      const exp = Math.floor(ctx.clock.now().getTime() / 1000) + ctx.config.DOWNLOAD_LINK_TTL_SECONDS;
      const token = signToken(ctx.config.LINK_SECRET, 'export-download', { r: r.id, u: user.id, exp });
      res
        .status(201)
        .json({ url: `${ctx.publicUrl}/v1/export-downloads/${token}`, expires_at: new Date(exp * 1000).toISOString() });
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/export-downloads/:token',
      operationId: 'followExportLink',
      summary: 'Follow a signed export link',
      tags: ['Rights'],
      auth: 'none',
      params: TokenParam,
      responses: { 200: { description: 'ZIP archive', contentType: 'application/zip' } },
      errors: { 403: 'link_invalid', 410: 'link_expired, export_expired' },
    },
    async (req, res, { params }) => {
      const ctx = ctxOf(req);
      const claim = verifyToken<{ r: string; u: string; exp: number }>(
        ctx.config.LINK_SECRET,
        'export-download',
        params.token,
      );
      if (!claim) throw new HttpError(403, 'link_invalid', 'Invalid link', 'This download link is not valid.');
      if (claim.exp * 1000 < ctx.clock.now().getTime())
        throw new HttpError(410, 'link_expired', 'Link expired', 'Ask for a new link from your rights request.');
      const { request, blob } = await linkedExport(ctx, claim.u, claim.r);
      await streamBlob(ctx, blob, res, `rasmi-export-${request.id}.zip`);
    },
  );
}

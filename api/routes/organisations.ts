import type { Readable } from 'node:stream';
import type { Response, Router } from 'express';
import { STYLES } from '../../core/orders/catalog';
import { organisationLogo, setBrand, setLogo } from '../../core/teams/brand';
import {
  acceptInvitation,
  createLink,
  INVITATION_DAYS,
  inviteByEmail,
  listInvitations,
  previewInvitation,
  revokeInvitation,
} from '../../core/teams/invitations';
import { leaveOrganisation, removeMember, setRole, setSharingConsent } from '../../core/teams/membership';
import {
  createOrganisation,
  getOrganisation,
  myOrganisations,
  renameOrganisation,
} from '../../core/teams/organisations';
import { approveHeadshot, memberList, requestRedo, sharedHeadshotBlob, sharedHeadshots } from '../../core/teams/review';
import { beginSeatOrder, createSeatOrder } from '../../core/teams/seat-orders';
import { buySeats, seatPurchases } from '../../core/teams/seats';
import { mySharing, shareHeadshots, unshareHeadshot } from '../../core/teams/sharing';
import { teamZip } from '../../core/teams/team-export';
import { deliveryLog, setWebhook } from '../../core/teams/webhooks';
import { ctxOf } from '../auth';
import { idempotent } from '../idempotency';
import { z } from '../openapi';
import { route } from '../route';
import { idOf, iso, TokenParam } from '../schemas';

/**
 * Teams (issue 23): the HTTP side of core/teams. Each handler reads its input, calls one use case
 * and writes its answer; every rule (who may see what, each refusal's code) lives in core/teams.
 */
const Tags = ['Organisations'];
const OrgParams = z.object({ id: idOf('org', 'organisation') });
const Hex = z
  .string()
  .regex(/^#[0-9a-fA-F]{6}$/)
  .openapi({ example: '#1f3a5f' });
const Backdrop = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('solid'), colour: Hex }),
    z.object({ kind: z.literal('gradient'), from: Hex, to: Hex }),
  ])
  .openapi('BrandBackdrop', {
    description:
      "The organisation's own backdrop, used in place of the styles' own: one colour, or a gradient from top to bottom",
  });
const Role = z.enum(['owner', 'admin', 'member']);
const StyleId = z.enum(STYLES.map((s) => s.id) as [string, ...string[]]);

const SeatSummaryOut = z
  .object({
    packages: z.array(
      z.object({
        package_id: z.string(),
        purchased: z.number().int(),
        used: z.number().int(),
        available: z.number().int(),
        pending: z.number().int(),
      }),
    ),
    credit_cents: z.number().int().openapi({
      description:
        'Credit left: what its seat orders could not make (or agreed shortfalls), less what seat purchases took off their price',
    }),
    currency: z.string(),
  })
  .openapi('SeatSummary');
const OrganisationOut = z
  .object({
    id: z.string(),
    name: z.string(),
    role: Role.openapi({ description: 'Your role in it' }),
    allowed_styles: z.array(z.string()).nullable().openapi({ description: 'Styles members may use; null: all' }),
    backdrop: Backdrop.nullable(),
    has_logo: z.boolean(),
    created_at: z.string().datetime(),
    admin: z
      .object({
        billing_email: z.string(),
        seats: SeatSummaryOut,
        webhook_url: z.string().nullable(),
        reminder_days: z.number().int(),
      })
      .nullable()
      .openapi({ description: 'Owners and admins only' }),
  })
  .openapi('Organisation');
const InvitationOut = z
  .object({
    id: z.string(),
    kind: z.enum(['email', 'link']),
    role: z.enum(['admin', 'member']),
    email: z.string().nullable(),
    domain: z.string().nullable(),
    max_uses: z.number().int().nullable(),
    uses: z.number().int(),
    status: z.enum(['pending', 'accepted', 'revoked', 'expired', 'full']),
    expires_at: z.string().datetime(),
    created_at: z.string().datetime(),
    url: z.string().nullable().openapi({ description: 'The link to share (open links only)' }),
  })
  .openapi('Invitation');
const MemberOut = z
  .object({
    user_id: z.string().nullable(),
    invitation_id: z.string().nullable(),
    name: z.string().nullable(),
    email: z.string(),
    role: Role,
    status: z.enum(['invited', 'joined', 'uploaded', 'ordered', 'ready', 'shared']),
    shared: z.number().int(),
    approved: z.number().int(),
    joined_at: z.string().datetime().nullable(),
  })
  .openapi('OrganisationMember');
const Review = z.enum(['pending', 'approved', 'redo_requested']);
const SharedOut = z
  .object({
    headshot_id: z.string(),
    member: z.object({ id: z.string(), name: z.string(), email: z.string() }),
    style_id: z.string(),
    review: Review,
    review_note: z.string().nullable(),
    shared_at: z.string().datetime(),
    content_url: z.string(),
  })
  .openapi('SharedHeadshot');
const MySharingOut = z
  .object({
    role: Role,
    consent_to_share: z.boolean(),
    shared: z.array(
      z.object({
        headshot_id: z.string(),
        review: Review,
        review_note: z.string().nullable(),
        shared_at: z.string().datetime(),
      }),
    ),
  })
  .openapi('MyOrganisationSharing');
const DeliveryOut = z
  .object({
    id: z.string(),
    event: z.string(),
    status: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int(),
    last_status: z.number().int().nullable(),
    last_error: z.string().nullable(),
    next_attempt_at: z.string().datetime().nullable(),
    created_at: z.string().datetime(),
    delivered_at: z.string().datetime().nullable(),
    payload: z.unknown(),
  })
  .openapi('WebhookDelivery');

const orgOut = (o: Awaited<ReturnType<typeof getOrganisation>>) => ({ ...o, created_at: iso(o.created_at)! });
const invitationOut = (i: Awaited<ReturnType<typeof inviteByEmail>>) => ({
  ...i,
  expires_at: iso(i.expires_at)!,
  created_at: iso(i.created_at)!,
});

/** Streams a body to the response; a failure part-way ends the response (the client sees a cut transfer, never a whole-looking file). */
async function sendStream(res: Response, stream: Readable, headers: Record<string, string>): Promise<void> {
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Cache-Control', 'private, no-store');
  await new Promise<void>((resolve) => {
    stream.on('error', (err) => {
      res.destroy(err);
      resolve();
    });
    res.on('close', () => {
      stream.destroy();
      resolve();
    });
    res.on('finish', resolve);
    stream.pipe(res);
  });
}

export function organisationRoutes(router: Router): void {
  route(
    router,
    {
      method: 'post',
      path: '/v1/organisations',
      operationId: 'createOrganisation',
      summary: 'Create an organisation; you become its owner',
      tags: Tags,
      auth: 'user',
      body: z
        .object({ name: z.string().trim().min(1).max(120), billing_email: z.string().email().max(254) })
        .openapi('CreateOrganisation'),
      responses: { 201: { description: 'The organisation', schema: OrganisationOut } },
    },
    async (req, res, { user, body }) => {
      res.status(201).json(orgOut(await createOrganisation(ctxOf(req), user.id, body)));
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/organisations',
      operationId: 'listMyOrganisations',
      summary: 'The organisations you belong to',
      tags: Tags,
      auth: 'user',
      responses: {
        200: {
          description: 'Yours',
          schema: z.object({ items: z.array(z.object({ id: z.string(), name: z.string(), role: Role })) }),
        },
      },
    },
    async (req, res, { user }) => {
      res.json({ items: await myOrganisations(ctxOf(req), user.id) });
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/organisations/:id',
      operationId: 'getOrganisation',
      summary: 'An organisation you belong to (admins also see billing, seats and webhook)',
      tags: Tags,
      auth: 'user',
      params: OrgParams,
      responses: { 200: { description: 'The organisation', schema: OrganisationOut } },
      errors: { 404: 'not_found' },
    },
    async (req, res, { user, params }) => {
      res.json(orgOut(await getOrganisation(ctxOf(req), user.id, params.id)));
    },
  );

  route(
    router,
    {
      method: 'patch',
      path: '/v1/organisations/:id',
      operationId: 'updateOrganisation',
      summary: 'Change the name, billing contact or reminder period (admins)',
      tags: Tags,
      auth: 'user',
      params: OrgParams,
      body: z
        .object({
          name: z.string().trim().min(1).max(120).optional(),
          billing_email: z.string().email().max(254).optional(),
          reminder_days: z.number().int().min(1).max(60).optional(),
        })
        .openapi('UpdateOrganisation'),
      responses: { 200: { description: 'The organisation', schema: OrganisationOut } },
      errors: { 403: 'forbidden', 404: 'not_found' },
    },
    async (req, res, { user, params, body }) => {
      res.json(orgOut(await renameOrganisation(ctxOf(req), user.id, params.id, body)));
    },
  );

  route(
    router,
    {
      method: 'put',
      path: '/v1/organisations/:id/brand',
      operationId: 'setOrganisationBrand',
      summary: "Set the brand: the styles members may use and the organisation's own backdrop (admins)",
      tags: Tags,
      auth: 'user',
      params: OrgParams,
      body: z
        .object({
          allowed_styles: z.array(StyleId).min(1).max(STYLES.length).nullable().optional(),
          backdrop: Backdrop.nullable().optional(),
        })
        .openapi('OrganisationBrand'),
      responses: { 200: { description: 'The organisation', schema: OrganisationOut } },
      errors: { 403: 'forbidden', 404: 'not_found', 422: 'unknown_style' },
    },
    async (req, res, { user, params, body }) => {
      const ctx = ctxOf(req);
      await setBrand(ctx, user.id, params.id, body);
      res.json(orgOut(await getOrganisation(ctx, user.id, params.id)));
    },
  );

  route(
    router,
    {
      method: 'put',
      path: '/v1/organisations/:id/logo',
      operationId: 'setOrganisationLogo',
      summary: 'Set (or remove) the logo for the profile-picture variant (admins)',
      description:
        'A PNG, JPEG or WebP of at most 64 kB, base64-encoded; re-encoded as PNG without metadata. null removes it.',
      tags: Tags,
      auth: 'user',
      params: OrgParams,
      body: z
        .object({
          image_base64: z
            .string()
            .max(90_000)
            .regex(/^[A-Za-z0-9+/=]*$/)
            .nullable(),
        })
        .openapi('OrganisationLogo'),
      responses: { 200: { description: 'The organisation', schema: OrganisationOut } },
      errors: { 403: 'forbidden', 404: 'not_found', 413: 'logo_too_large', 422: 'logo_unreadable' },
    },
    async (req, res, { user, params, body }) => {
      const ctx = ctxOf(req);
      await setLogo(
        ctx,
        user.id,
        params.id,
        body.image_base64 === null ? null : Buffer.from(body.image_base64, 'base64'),
      );
      res.json(orgOut(await getOrganisation(ctx, user.id, params.id)));
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/organisations/:id/logo',
      operationId: 'getOrganisationLogo',
      summary: "The organisation's logo (members)",
      tags: Tags,
      auth: 'user',
      params: OrgParams,
      responses: { 200: { description: 'PNG', contentType: 'image/png' } },
      errors: { 404: 'not_found' },
    },
    async (req, res, { user, params }) => {
      const ctx = ctxOf(req);
      const { stream, size } = await organisationLogo(ctx, user.id, params.id);
      await sendStream(res, stream, { 'Content-Type': 'image/png', 'Content-Length': String(size) });
    },
  );

  const InviteTerms = {
    role: z.enum(['admin', 'member']).optional().openapi({ description: 'member unless given' }),
    expires_in_days: z.number().int().min(1).max(60).optional().openapi({ description: '14 unless given' }),
  };
  route(
    router,
    {
      method: 'post',
      path: '/v1/organisations/:id/invitations',
      operationId: 'inviteByEmail',
      summary: 'Email a single-use, expiring invitation to one address (admins; owners for admins)',
      tags: Tags,
      auth: 'user',
      params: OrgParams,
      body: z.object({ email: z.string().email().max(254), ...InviteTerms }).openapi('EmailInvitation'),
      responses: { 201: { description: 'The invitation (its link goes to the address only)', schema: InvitationOut } },
      errors: { 403: 'forbidden', 404: 'not_found' },
    },
    async (req, res, { user, params, body }) => {
      res.status(201).json(
        invitationOut(
          await inviteByEmail(ctxOf(req), user.id, params.id, {
            ...body,
            role: body.role ?? 'member',
            expires_in_days: body.expires_in_days ?? INVITATION_DAYS,
          }),
        ),
      );
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/organisations/:id/invitation-links',
      operationId: 'createInvitationLink',
      summary: "An open invitation link for addresses at the organisation's domain, with a cap and an expiry (admins)",
      tags: Tags,
      auth: 'user',
      params: OrgParams,
      body: z
        .object({
          domain: z
            .string()
            .toLowerCase()
            .regex(/^(?=.{3,253}$)([a-z0-9-]+\.)+[a-z]{2,}$/, { message: 'Not a domain' }),
          max_uses: z.number().int().min(1).max(10_000),
          ...InviteTerms,
        })
        .openapi('InvitationLink'),
      responses: { 201: { description: 'The invitation with its url', schema: InvitationOut } },
      errors: { 403: 'forbidden', 404: 'not_found' },
    },
    async (req, res, { user, params, body }) => {
      res.status(201).json(
        invitationOut(
          await createLink(ctxOf(req), user.id, params.id, {
            ...body,
            role: body.role ?? 'member',
            expires_in_days: body.expires_in_days ?? INVITATION_DAYS,
          }),
        ),
      );
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/organisations/:id/invitations',
      operationId: 'listInvitations',
      summary: 'Invitations and their status (admins)',
      tags: Tags,
      auth: 'user',
      params: OrgParams,
      responses: { 200: { description: 'Newest first', schema: z.object({ items: z.array(InvitationOut) }) } },
      errors: { 403: 'forbidden', 404: 'not_found' },
    },
    async (req, res, { user, params }) => {
      res.json({ items: (await listInvitations(ctxOf(req), user.id, params.id)).map(invitationOut) });
    },
  );

  route(
    router,
    {
      method: 'delete',
      path: '/v1/organisations/:id/invitations/:invitation_id',
      operationId: 'revokeInvitation',
      summary: 'Revoke an invitation (admins)',
      tags: Tags,
      auth: 'user',
      params: OrgParams.extend({ invitation_id: idOf('inv', 'invitation') }),
      responses: { 200: { description: 'The revoked invitation', schema: InvitationOut } },
      errors: { 403: 'forbidden', 404: 'not_found' },
    },
    async (req, res, { user, params }) => {
      res.json(invitationOut(await revokeInvitation(ctxOf(req), user.id, params.id, params.invitation_id)));
    },
  );

  const InvitationErrors = {
    403: 'invitation_wrong_email, invitation_wrong_domain',
    404: 'invitation_invalid',
    409: 'invitation_used, invitation_full, already_member',
    410: 'invitation_expired, invitation_revoked',
  };
  route(
    router,
    {
      method: 'get',
      path: '/v1/invitations/:token',
      operationId: 'previewInvitation',
      summary: 'What an invitation is for and what joining means, if you can use it',
      tags: Tags,
      auth: 'user',
      params: TokenParam,
      responses: {
        200: {
          description: 'The invitation',
          schema: z
            .object({
              organisation: z.object({ id: z.string(), name: z.string() }),
              role: z.enum(['admin', 'member']),
              expires_at: z.string().datetime(),
              consent_text: z.string(),
            })
            .openapi('InvitationPreview'),
        },
      },
      errors: InvitationErrors,
    },
    async (req, res, { user, params }) => {
      const p = await previewInvitation(ctxOf(req), user, params.token);
      res.json({ ...p, expires_at: iso(p.expires_at)! });
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/invitations/:token/accept',
      operationId: 'acceptInvitation',
      summary: 'Join, with your explicit consent to share the headshots you choose with its admins',
      tags: Tags,
      auth: 'user',
      params: TokenParam,
      body: z
        .object({
          consent_to_share: z
            .boolean()
            .openapi({ description: 'Must be true: you agree to the consent_text of the invitation' }),
        })
        .openapi('AcceptInvitation'),
      responses: {
        201: {
          description: 'Joined',
          schema: z.object({ organisation_id: z.string(), role: z.enum(['admin', 'member']) }),
        },
      },
      errors: { ...InvitationErrors, 422: 'consent_required' },
    },
    async (req, res, { user, params, body }) => {
      res.status(201).json(await acceptInvitation(ctxOf(req), user, params.token, body));
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/organisations/:id/members',
      operationId: 'listMembers',
      summary: "Members and invitees with each one's status (admins): never their photos",
      tags: Tags,
      auth: 'user',
      params: OrgParams,
      responses: {
        200: {
          description: 'Members, then pending email invitations',
          schema: z.object({ items: z.array(MemberOut) }),
        },
      },
      errors: { 403: 'forbidden', 404: 'not_found' },
    },
    async (req, res, { user, params }) => {
      res.json({
        items: (await memberList(ctxOf(req), user.id, params.id)).map((m) => ({ ...m, joined_at: iso(m.joined_at) })),
      });
    },
  );

  const MemberParams = OrgParams.extend({ user_id: idOf('usr', 'user') });
  route(
    router,
    {
      method: 'patch',
      path: '/v1/organisations/:id/members/:user_id',
      operationId: 'setMemberRole',
      summary: "Change a member's role (owners)",
      tags: Tags,
      auth: 'user',
      params: MemberParams,
      body: z.object({ role: Role }).openapi('MemberRole'),
      responses: { 204: { description: 'Changed' } },
      errors: { 403: 'forbidden', 404: 'not_found', 409: 'last_owner' },
    },
    async (req, res, { user, params, body }) => {
      await setRole(ctxOf(req), user.id, params.id, params.user_id, body.role);
      res.status(204).end();
    },
  );

  route(
    router,
    {
      method: 'delete',
      path: '/v1/organisations/:id/members/:user_id',
      operationId: 'removeMember',
      summary: 'Remove a member (admins): their shared headshots go at once',
      tags: Tags,
      auth: 'user',
      params: MemberParams,
      responses: { 204: { description: 'Removed' } },
      errors: { 403: 'forbidden', 404: 'not_found', 409: 'last_owner' },
    },
    async (req, res, { user, params }) => {
      await removeMember(ctxOf(req), user.id, params.id, params.user_id);
      res.status(204).end();
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/organisations/:id/leave',
      operationId: 'leaveOrganisation',
      summary: 'Leave: the organisation loses access to your headshots in this request',
      tags: Tags,
      auth: 'user',
      params: OrgParams,
      responses: { 204: { description: 'Left' } },
      errors: { 404: 'not_found', 409: 'last_owner' },
    },
    async (req, res, { user, params }) => {
      await leaveOrganisation(ctxOf(req), user.id, params.id);
      res.status(204).end();
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/organisations/:id/me',
      operationId: 'getMySharing',
      summary: 'Your consent to share with this organisation and what you share',
      tags: Tags,
      auth: 'user',
      params: OrgParams,
      responses: { 200: { description: 'Yours', schema: MySharingOut } },
      errors: { 404: 'not_found' },
    },
    async (req, res, { user, params }) => {
      const s = await mySharing(ctxOf(req), user.id, params.id);
      res.json({ ...s, shared: s.shared.map((x) => ({ ...x, shared_at: iso(x.shared_at)! })) });
    },
  );

  route(
    router,
    {
      method: 'put',
      path: '/v1/organisations/:id/me/consent',
      operationId: 'setSharingConsent',
      summary:
        'Give or withdraw your consent to share with this organisation; withdrawing unshares everything in this request',
      tags: Tags,
      auth: 'user',
      params: OrgParams,
      body: z.object({ granted: z.boolean() }).openapi('SharingConsent'),
      responses: {
        200: { description: 'In force now', schema: z.object({ granted: z.boolean(), changed: z.boolean() }) },
      },
      errors: { 404: 'not_found' },
    },
    async (req, res, { user, params, body }) => {
      res.json(await setSharingConsent(ctxOf(req), user.id, params.id, body.granted));
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/organisations/:id/me/shared',
      operationId: 'shareHeadshots',
      summary: "Share some of your headshots with this organisation's admins",
      tags: Tags,
      auth: 'user',
      params: OrgParams,
      body: z.object({ headshot_ids: z.array(idOf('hs', 'headshot')).min(1).max(100) }).openapi('ShareHeadshots'),
      responses: { 200: { description: 'Shared', schema: z.object({ shared: z.array(z.string()) }) } },
      errors: { 404: 'not_found', 409: 'consent_withdrawn' },
    },
    async (req, res, { user, params, body }) => {
      res.json(await shareHeadshots(ctxOf(req), user.id, params.id, body.headshot_ids));
    },
  );

  route(
    router,
    {
      method: 'delete',
      path: '/v1/organisations/:id/me/shared/:headshot_id',
      operationId: 'unshareHeadshot',
      summary: 'Stop sharing one headshot (at once)',
      tags: Tags,
      auth: 'user',
      params: OrgParams.extend({ headshot_id: idOf('hs', 'headshot') }),
      responses: { 204: { description: 'No longer shared' } },
      errors: { 404: 'not_found' },
    },
    async (req, res, { user, params }) => {
      await unshareHeadshot(ctxOf(req), user.id, params.id, params.headshot_id);
      res.status(204).end();
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/organisations/:id/seats',
      operationId: 'buySeats',
      idempotent: true,
      summary: "Buy seats (one seat = one member's order of a package) through the payment processor (admins)",
      tags: Tags,
      auth: 'user',
      params: OrgParams,
      body: z
        .object({ package_id: z.string().openapi({ example: 'starter' }), seats: z.number().int().min(1).max(1000) })
        .openapi('BuySeats'),
      responses: {
        201: {
          description:
            "The organisation's credit is taken off the price first. `pending`: the rest awaits the payment, and the seats count once the processor confirms it; `paid`: the credit paid for them all, they count now and `payment` is null",
          schema: z
            .object({
              purchase_id: z.string(),
              amount_cents: z.number().int().openapi({ description: 'Left to pay after the credit' }),
              credit_cents: z.number().int().openapi({ description: "The organisation's credit taken off the price" }),
              currency: z.string(),
              status: z.enum(['pending', 'paid']),
              payment: z.object({ processor: z.string(), client_secret: z.string() }).nullable(),
            })
            .openapi('SeatPurchase'),
        },
      },
      errors: { 403: 'forbidden', 404: 'not_found', 422: 'unknown_package', 502: 'payment_processor_unavailable' },
    },
    async (req, res, { user, params, body }) => {
      const ctx = ctxOf(req);
      await idempotent(ctx, req, res, user.id, async (tx) => ({
        status: 201,
        body: await buySeats(tx, user.id, params.id, body),
      }));
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/organisations/:id/seats',
      operationId: 'getSeats',
      summary: 'Seats bought, used and available, credit owed, and the purchases (admins)',
      tags: Tags,
      auth: 'user',
      params: OrgParams,
      responses: {
        200: {
          description: 'Seats',
          schema: z.object({
            summary: SeatSummaryOut,
            purchases: z.array(
              z.object({
                id: z.string(),
                package_id: z.string(),
                seats: z.number().int(),
                amount_cents: z.number().int(),
                credit_cents: z.number().int(),
                currency: z.string(),
                status: z.enum(['pending', 'paid']),
                created_at: z.string().datetime(),
                paid_at: z.string().datetime().nullable(),
              }),
            ),
          }),
        },
      },
      errors: { 403: 'forbidden', 404: 'not_found' },
    },
    async (req, res, { user, params }) => {
      const { summary, purchases } = await seatPurchases(ctxOf(req), user.id, params.id);
      res.json({
        summary,
        purchases: purchases.map((p) => ({ ...p, created_at: iso(p.created_at)!, paid_at: iso(p.paid_at) })),
      });
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/organisations/:id/orders',
      operationId: 'createSeatOrder',
      idempotent: true,
      summary: "Order your headshots with one of the organisation's seats, within its brand",
      tags: Tags,
      auth: 'user',
      params: OrgParams,
      body: z
        .object({
          package_id: z.string(),
          style_ids: z.array(z.string()).min(1).max(10),
          photo_ids: z.array(idOf('pho', 'photo')).min(1).max(20),
          accept_shortfall: z.boolean().optional(),
        })
        .openapi('SeatOrder'),
      responses: {
        201: {
          description: 'The order, started (follow it at GET /v1/orders/{id})',
          schema: z.object({ order_id: z.string(), seats_left: z.number().int() }),
        },
      },
      errors: {
        404: 'not_found',
        409: 'no_seat_left, policy_acceptance_required',
        422: 'unknown_package, unknown_style, style_not_allowed, too_many_styles, photo_not_ready, photo_unusable, shortfall_not_accepted',
      },
    },
    async (req, res, { user, params, body }) => {
      const ctx = ctxOf(req);
      await idempotent(
        ctx,
        req,
        res,
        user.id,
        async (tx) => ({ status: 201, body: await createSeatOrder(tx, user, params.id, body) }),
        (answer) => beginSeatOrder(ctx, (answer.body as { order_id: string }).order_id),
      );
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/organisations/:id/headshots',
      operationId: 'listSharedHeadshots',
      summary: 'Headshots members shared, with their review (admins)',
      tags: Tags,
      auth: 'user',
      params: OrgParams,
      query: z.object({ review: Review.optional() }),
      responses: { 200: { description: 'Shared headshots', schema: z.object({ items: z.array(SharedOut) }) } },
      errors: { 403: 'forbidden', 404: 'not_found' },
    },
    async (req, res, { user, params, query }) => {
      res.json({
        items: (await sharedHeadshots(ctxOf(req), user.id, params.id, query)).map((s) => ({
          ...s,
          shared_at: iso(s.shared_at)!,
        })),
      });
    },
  );

  const SharedParams = OrgParams.extend({ headshot_id: idOf('hs', 'headshot') });
  route(
    router,
    {
      method: 'get',
      path: '/v1/organisations/:id/headshots/:headshot_id/content',
      operationId: 'getSharedHeadshotContent',
      summary: 'A shared headshot (admins); 404 for anything not shared with this organisation',
      tags: Tags,
      auth: 'user',
      params: SharedParams,
      responses: { 200: { description: 'JPEG', contentType: 'image/jpeg' } },
      errors: { 403: 'forbidden', 404: 'not_found' },
    },
    async (req, res, { user, params }) => {
      const ctx = ctxOf(req);
      const { blob, style_id } = await sharedHeadshotBlob(ctx, user.id, params.id, params.headshot_id);
      await sendStream(res, await ctx.storage.stream(blob), {
        'Content-Type': blob.content_type,
        'Content-Length': String(blob.size_bytes),
        'Content-Disposition': `attachment; filename="rasmi-${style_id}-${params.headshot_id}.jpg"`,
      });
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/organisations/:id/headshots/:headshot_id/approve',
      operationId: 'approveHeadshot',
      summary: 'Approve a shared headshot (admins)',
      tags: Tags,
      auth: 'user',
      params: SharedParams,
      responses: { 204: { description: 'Approved' } },
      errors: { 403: 'forbidden', 404: 'not_found' },
    },
    async (req, res, { user, params }) => {
      await approveHeadshot(ctxOf(req), user.id, params.id, params.headshot_id);
      res.status(204).end();
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/organisations/:id/headshots/:headshot_id/redo',
      operationId: 'requestRedo',
      summary:
        "Ask for a redo (admins): a reprocess of the member's photos while they are held, at the organisation's cost",
      tags: Tags,
      auth: 'user',
      params: SharedParams,
      body: z.object({ note: z.string().trim().max(500).nullable().optional() }).openapi('RedoRequest'),
      responses: { 201: { description: 'The redo order, started', schema: z.object({ order_id: z.string() }) } },
      errors: { 403: 'forbidden', 404: 'not_found', 409: 'redo_in_progress', 410: 'originals_expired' },
    },
    async (req, res, { user, params, body }) => {
      res.status(201).json(await requestRedo(ctxOf(req), user.id, params.id, params.headshot_id, body.note ?? null));
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/organisations/:id/export',
      operationId: 'downloadTeamHeadshots',
      summary:
        'The approved (or all shared) headshots as a ZIP with members.csv (name, email, style, file), streamed (admins)',
      tags: Tags,
      auth: 'user',
      params: OrgParams,
      query: z.object({ include: z.enum(['approved', 'shared']).default('approved') }),
      responses: { 200: { description: 'ZIP archive', contentType: 'application/zip' } },
      errors: { 403: 'forbidden', 404: 'not_found' },
    },
    async (req, res, { user, params, query }) => {
      const ctx = ctxOf(req);
      const { zip, files } = await teamZip(ctx, user.id, params.id, query);
      files.catch((err: Error) => req.log?.warn({ err: err.message }, 'team ZIP ended early'));
      await sendStream(res, zip, {
        'Content-Type': 'application/zip',
        'Content-Disposition': `attachment; filename="rasmi-team-${params.id}.zip"`,
      });
    },
  );

  route(
    router,
    {
      method: 'put',
      path: '/v1/organisations/:id/webhook',
      operationId: 'setOrganisationWebhook',
      summary: 'Set (or remove, with null) the signed webhook endpoint; the new secret is shown once (admins)',
      tags: Tags,
      auth: 'user',
      params: OrgParams,
      body: z.object({ url: z.string().url().max(2000).nullable() }).openapi('OrganisationWebhook'),
      responses: {
        200: {
          description: 'The endpoint and its secret',
          schema: z.object({ url: z.string().nullable(), secret: z.string().nullable() }),
        },
      },
      errors: { 403: 'forbidden', 404: 'not_found', 422: 'webhook_url_invalid' },
    },
    async (req, res, { user, params, body }) => {
      res.json(await setWebhook(ctxOf(req), user.id, params.id, body.url));
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/organisations/:id/webhook/deliveries',
      operationId: 'listWebhookDeliveries',
      summary: 'The webhook delivery log, newest first (admins)',
      tags: Tags,
      auth: 'user',
      params: OrgParams,
      query: z.object({ limit: z.coerce.number().int().min(1).max(100).default(50) }),
      responses: { 200: { description: 'Deliveries', schema: z.object({ items: z.array(DeliveryOut) }) } },
      errors: { 403: 'forbidden', 404: 'not_found' },
    },
    async (req, res, { user, params, query }) => {
      const rows = await deliveryLog(ctxOf(req), user.id, params.id, query.limit);
      res.json({
        items: rows.map((d) => ({
          ...d,
          next_attempt_at: iso(d.next_attempt_at),
          created_at: iso(d.created_at)!,
          delivered_at: iso(d.delivered_at),
        })),
      });
    },
  );
}

import { appLink } from '../notifications/links';
import { sendToAddressOnce } from '../notifications/email';
import type { AppContext } from '../platform/context';
import { DAY_MS } from '../platform/config';
import {
  decryptField,
  emailLookupHash,
  encryptField,
  newId,
  normaliseEmail,
  signToken,
  verifyToken,
} from '../platform/crypto';
import type { Db, User } from '../platform/db';
import { DomainError } from '../platform/errors';
import { requireAdmin } from './access';
import { recordOrganisationConsent } from './consent';
import { queueWebhook } from './webhooks';

/**
 * Invitations: by email (a signed link for that address only, used once, expiring) or an open link
 * for anyone whose email is at the organisation's domain (with a cap on how many join, expiring).
 * Both can be revoked. The link carries only the invitation's id under an HMAC: every rule is
 * checked against the row, under its lock, so a revocation or the cap holds at once.
 */
const PURPOSE = 'team-invite';
/** How long an invitation lasts unless the admin says otherwise. */
export const INVITATION_DAYS = 14;

export type InvitationStatus = 'pending' | 'accepted' | 'revoked' | 'expired' | 'full';

export interface InvitationView {
  id: string;
  kind: 'email' | 'link';
  role: 'admin' | 'member';
  email: string | null;
  domain: string | null;
  max_uses: number | null;
  uses: number;
  status: InvitationStatus;
  expires_at: Date;
  created_at: Date;
  /** The link to share (open links only; an email invitation's link goes to its address alone). */
  url: string | null;
}

const tokenFor = (ctx: AppContext, id: string) => signToken(ctx.config.LINK_SECRET, PURPOSE, { i: id });
const joinUrl = (ctx: AppContext, id: string) => appLink(ctx, 'join', { token: tokenFor(ctx, id) });

type Row = Awaited<ReturnType<typeof invitationRow>>;
const invitationRow = (db: Db, id: string) =>
  db.selectFrom('organisation_invitations').selectAll().where('id', '=', id).executeTakeFirst();

function statusOf(r: NonNullable<Row>, now: Date): InvitationStatus {
  if (r.revoked_at) return 'revoked';
  if (r.kind === 'email' && r.accepted_at) return 'accepted';
  if (new Date(r.expires_at).getTime() <= now.getTime()) return 'expired';
  if (r.kind === 'link' && r.max_uses !== null && r.uses >= r.max_uses) return 'full';
  return 'pending';
}

function view(ctx: AppContext, r: NonNullable<Row>): InvitationView {
  return {
    id: r.id,
    kind: r.kind,
    role: r.role,
    email: r.email_enc ? decryptField(ctx.pii, r.email_enc) : null, // erased 30 days after it was used, revoked or expired
    domain: r.domain,
    max_uses: r.max_uses,
    uses: r.uses,
    status: statusOf(r, ctx.clock.now()),
    expires_at: r.expires_at,
    created_at: r.created_at,
    url: r.kind === 'link' ? joinUrl(ctx, r.id) : null,
  };
}

async function requireInviter(ctx: AppContext, organisationId: string, userId: string, role: 'admin' | 'member') {
  const m = await requireAdmin(ctx, organisationId, userId);
  if (role === 'admin' && m.role !== 'owner')
    throw new DomainError(403, 'forbidden', 'Owners only', 'Only owners can invite admins.');
}

/** Emails a single-use invitation to one address. */
export async function inviteByEmail(
  ctx: AppContext,
  userId: string,
  organisationId: string,
  input: { email: string; role: 'admin' | 'member'; expires_in_days: number },
): Promise<InvitationView> {
  await requireInviter(ctx, organisationId, userId, input.role);
  const org = await ctx.db
    .selectFrom('organisations')
    .select('name')
    .where('id', '=', organisationId)
    .executeTakeFirstOrThrow();
  const now = ctx.clock.now();
  const id = newId('inv');
  const email = normaliseEmail(input.email);
  await ctx.db
    .insertInto('organisation_invitations')
    .values({
      id,
      organisation_id: organisationId,
      kind: 'email',
      role: input.role,
      email_hash: emailLookupHash(ctx.config.PII_HASH_KEY, email),
      email_enc: encryptField(ctx.pii, email),
      domain: null,
      max_uses: 1,
      expires_at: new Date(now.getTime() + input.expires_in_days * DAY_MS),
      created_by: userId,
      created_at: now,
    })
    .execute();
  await sendToAddressOnce(ctx, {
    to: email,
    kind: 'team-invitation',
    dedupeKey: `team-invitation:${id}`,
    message: {
      subject: `${org.name} invites you to Rasmi`,
      text: [
        `${org.name} invites you to make your professional headshot with Rasmi, paid by ${org.name}.`,
        '',
        `Join here (the link is for you only, works once and expires in ${input.expires_in_days} days):`,
        joinUrl(ctx, id),
        '',
        `${org.name} never sees your selfies. Its admins see only the headshots you choose to share, and you can stop sharing at any time.`,
      ].join('\n'),
    },
  });
  return view(ctx, (await invitationRow(ctx.db, id))!);
}

/** An open link for anyone at the organisation's email domain, up to max_uses people. */
export async function createLink(
  ctx: AppContext,
  userId: string,
  organisationId: string,
  input: { domain: string; max_uses: number; role: 'admin' | 'member'; expires_in_days: number },
): Promise<InvitationView> {
  await requireInviter(ctx, organisationId, userId, input.role);
  const now = ctx.clock.now();
  const id = newId('inv');
  await ctx.db
    .insertInto('organisation_invitations')
    .values({
      id,
      organisation_id: organisationId,
      kind: 'link',
      role: input.role,
      email_hash: null,
      email_enc: null,
      domain: input.domain.toLowerCase(),
      max_uses: input.max_uses,
      expires_at: new Date(now.getTime() + input.expires_in_days * DAY_MS),
      created_by: userId,
      created_at: now,
    })
    .execute();
  return view(ctx, (await invitationRow(ctx.db, id))!);
}

export async function listInvitations(
  ctx: AppContext,
  userId: string,
  organisationId: string,
): Promise<InvitationView[]> {
  await requireAdmin(ctx, organisationId, userId);
  const rows = await ctx.db
    .selectFrom('organisation_invitations')
    .selectAll()
    .where('organisation_id', '=', organisationId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
  return rows.map((r) => view(ctx, r));
}

export async function revokeInvitation(
  ctx: AppContext,
  userId: string,
  organisationId: string,
  invitationId: string,
): Promise<InvitationView> {
  await requireAdmin(ctx, organisationId, userId);
  await ctx.db
    .updateTable('organisation_invitations')
    .set({ revoked_at: ctx.clock.now() })
    .where('id', '=', invitationId)
    .where('organisation_id', '=', organisationId)
    .where('revoked_at', 'is', null)
    .execute();
  const row = await invitationRow(ctx.db, invitationId);
  if (!row || row.organisation_id !== organisationId)
    throw new DomainError(
      404,
      'not_found',
      'Invitation not found',
      'No invitation with that id belongs to this organisation.',
    );
  return view(ctx, row);
}

const invalid = () =>
  new DomainError(
    404,
    'invitation_invalid',
    'Invitation link not valid',
    'This invitation link is not valid. Ask your organisation for a new one.',
  );

function invitationIdOf(ctx: AppContext, token: string): string {
  const claim = verifyToken<{ i: string }>(ctx.config.LINK_SECRET, PURPOSE, token);
  if (!claim || typeof claim.i !== 'string') throw invalid();
  return claim.i;
}

/** Every reason an invitation cannot be used now by this person, as a clear 4xx with a stable code. */
function refuse(r: NonNullable<Row>, user: User, email: string, hashKey: string, now: Date): void {
  if (r.revoked_at)
    throw new DomainError(
      410,
      'invitation_revoked',
      'Invitation revoked',
      'The organisation withdrew this invitation. Ask it for a new one.',
    );
  if (new Date(r.expires_at).getTime() <= now.getTime())
    throw new DomainError(
      410,
      'invitation_expired',
      'Invitation expired',
      'This invitation has expired. Ask your organisation for a new one.',
    );
  if (r.kind === 'email') {
    if (r.accepted_at)
      throw new DomainError(
        409,
        'invitation_used',
        'Invitation already used',
        'This invitation was used already; each one works once.',
      );
    if (r.email_hash !== user.email_hash && r.email_hash !== emailLookupHash(hashKey, email)) {
      throw new DomainError(
        403,
        'invitation_wrong_email',
        'Invitation for another address',
        'This invitation was sent to another email address. Sign in with that address, or ask for an invitation to yours.',
      );
    }
  } else {
    const domain = email.split('@')[1]?.toLowerCase();
    if (domain !== r.domain)
      throw new DomainError(
        403,
        'invitation_wrong_domain',
        'Email domain not allowed',
        `This link is for addresses at ${r.domain}. Sign in with your work address.`,
      );
    if (r.max_uses !== null && r.uses >= r.max_uses)
      throw new DomainError(
        409,
        'invitation_full',
        'Invitation link is full',
        'As many people as this link allows have joined already. Ask your organisation for another.',
      );
  }
}

export interface InvitationPreview {
  organisation: { id: string; name: string };
  role: 'admin' | 'member';
  expires_at: Date;
  /** What joining means, for the person to agree to. */
  consent_text: string;
}

export const CONSENT_TEXT = (org: string) =>
  `I agree that ${org}'s admins may see the headshots I choose to share with ${org}, with my name and email. They never see my selfies or their quality checks, and I can stop sharing, withdraw this consent or leave at any time.`;

/** What an invitation is for, once the signed-in person may use it (the same checks as accepting). */
export async function previewInvitation(ctx: AppContext, user: User, token: string): Promise<InvitationPreview> {
  const r = await invitationRow(ctx.db, invitationIdOf(ctx, token));
  if (!r) throw invalid();
  refuse(r, user, decryptField(ctx.pii, user.email_enc), ctx.config.PII_HASH_KEY, ctx.clock.now());
  const org = await ctx.db
    .selectFrom('organisations')
    .select(['id', 'name'])
    .where('id', '=', r.organisation_id)
    .executeTakeFirstOrThrow();
  return { organisation: org, role: r.role, expires_at: r.expires_at, consent_text: CONSENT_TEXT(org.name) };
}

/**
 * Joins with explicit consent to share: the invitation is checked and used under its row lock, the
 * membership and the consent are recorded in the same transaction, and the organisation's webhook
 * hears of it.
 */
export async function acceptInvitation(
  ctx: AppContext,
  user: User,
  token: string,
  input: { consent_to_share: boolean },
): Promise<{ organisation_id: string; role: 'admin' | 'member' }> {
  const id = invitationIdOf(ctx, token);
  if (input.consent_to_share !== true)
    throw new DomainError(
      422,
      'consent_required',
      'Consent needed to join',
      "Joining means agreeing that the organisation's admins see the headshots you choose to share; send consent_to_share: true to agree.",
    );
  const email = decryptField(ctx.pii, user.email_enc);
  const now = ctx.clock.now();
  const joined = await ctx.db.transaction().execute(async (trx) => {
    const r = await trx
      .selectFrom('organisation_invitations')
      .selectAll()
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
    if (!r) throw invalid();
    refuse(r, user, email, ctx.config.PII_HASH_KEY, now);
    const existing = await trx
      .selectFrom('organisation_members')
      .select('role')
      .where('organisation_id', '=', r.organisation_id)
      .where('user_id', '=', user.id)
      .executeTakeFirst();
    if (existing)
      throw new DomainError(409, 'already_member', 'Already a member', 'You belong to this organisation already.');
    await trx
      .insertInto('organisation_members')
      .values({
        organisation_id: r.organisation_id,
        user_id: user.id,
        role: r.role,
        invitation_id: r.id,
        joined_at: now,
      })
      .execute();
    await recordOrganisationConsent(trx, now, {
      organisationId: r.organisation_id,
      userId: user.id,
      granted: true,
      source: `joined:${r.id}`,
    });
    await trx
      .updateTable('organisation_invitations')
      .set((eb) => ({
        uses: eb('uses', '+', 1),
        ...(r.kind === 'email' ? { accepted_at: now, accepted_by: user.id } : {}),
      }))
      .where('id', '=', r.id)
      .execute();
    return { organisation_id: r.organisation_id, role: r.role };
  });
  await queueWebhook(ctx, joined.organisation_id, 'member.joined', { member_id: user.id, role: joined.role });
  return joined;
}

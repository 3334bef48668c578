import type { AppContext } from '../platform/context';
import { decryptField, encryptField, newId } from '../platform/crypto';
import type { OrganisationRole } from '../platform/db';
import { requireAdmin, requireMember } from './access';
import { backdropOut, type BackdropInput } from './brand';
import { seatSummary, type SeatSummary } from './seats';

export interface OrganisationView {
  id: string;
  name: string;
  role: OrganisationRole;
  allowed_styles: string[] | null;
  backdrop: BackdropInput | null;
  has_logo: boolean;
  created_at: Date;
  /** Admins only: the billing contact, the seats and the webhook's address. */
  admin: { billing_email: string; seats: SeatSummary; webhook_url: string | null; reminder_days: number } | null;
}

/** A person creates an organisation and becomes its owner. */
export async function createOrganisation(
  ctx: AppContext,
  userId: string,
  input: { name: string; billing_email: string },
): Promise<OrganisationView> {
  const id = newId('org');
  const now = ctx.clock.now();
  await ctx.db.transaction().execute(async (trx) => {
    await trx
      .insertInto('organisations')
      .values({
        id,
        name: input.name,
        billing_email_enc: encryptField(ctx.pii, input.billing_email),
        created_by: userId,
        created_at: now,
      })
      .execute();
    await trx
      .insertInto('organisation_members')
      .values({ organisation_id: id, user_id: userId, role: 'owner', invitation_id: null, joined_at: now })
      .execute();
  });
  return getOrganisation(ctx, userId, id);
}

export async function getOrganisation(
  ctx: AppContext,
  userId: string,
  organisationId: string,
): Promise<OrganisationView> {
  const m = await requireMember(ctx, organisationId, userId);
  const o = await ctx.db
    .selectFrom('organisations')
    .selectAll()
    .where('id', '=', organisationId)
    .executeTakeFirstOrThrow();
  const admin = m.role !== 'member';
  return {
    id: o.id,
    name: o.name,
    role: m.role,
    allowed_styles: o.allowed_styles,
    backdrop: backdropOut(o.backdrop),
    has_logo: o.logo_blob_id !== null,
    created_at: o.created_at,
    admin: admin
      ? {
          billing_email: decryptField(ctx.pii, o.billing_email_enc),
          seats: await seatSummary(ctx, o.id),
          webhook_url: o.webhook_url,
          reminder_days: o.reminder_days,
        }
      : null,
  };
}

/** The organisations a person belongs to, with their role in each. */
export async function myOrganisations(
  ctx: AppContext,
  userId: string,
): Promise<{ id: string; name: string; role: OrganisationRole }[]> {
  return ctx.db
    .selectFrom('organisation_members')
    .innerJoin('organisations', 'organisations.id', 'organisation_members.organisation_id')
    .select(['organisations.id', 'organisations.name', 'organisation_members.role'])
    .where('organisation_members.user_id', '=', userId)
    .orderBy('organisations.id')
    .execute();
}

export async function renameOrganisation(
  ctx: AppContext,
  userId: string,
  organisationId: string,
  input: { name?: string; billing_email?: string; reminder_days?: number },
): Promise<OrganisationView> {
  await requireAdmin(ctx, organisationId, userId);
  const set: { name?: string; billing_email_enc?: string; reminder_days?: number } = {};
  if (input.name !== undefined) set.name = input.name;
  if (input.billing_email !== undefined) set.billing_email_enc = encryptField(ctx.pii, input.billing_email);
  if (input.reminder_days !== undefined) set.reminder_days = input.reminder_days;
  if (Object.keys(set).length)
    await ctx.db.updateTable('organisations').set(set).where('id', '=', organisationId).execute();
  return getOrganisation(ctx, userId, organisationId);
}

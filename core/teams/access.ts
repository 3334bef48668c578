import type { AppContext } from '../platform/context';
import type { Db, OrganisationRole } from '../platform/db';
import { DomainError } from '../platform/errors';

/**
 * Who may do what in an organisation. Someone who is not a member gets 404 (the organisation is
 * not theirs to know of); a member without the role gets 403. Every use case asks here first, so
 * an admin's reach is the organisation's shared headshots and never a member's own data.
 */
export const organisationNotFound = () =>
  new DomainError(404, 'not_found', 'Organisation not found', 'No organisation with that id has you as a member.');

export interface Membership {
  organisationId: string;
  userId: string;
  role: OrganisationRole;
}

export async function membershipOf(db: Db, organisationId: string, userId: string): Promise<Membership | undefined> {
  const m = await db
    .selectFrom('organisation_members')
    .select(['organisation_id', 'user_id', 'role'])
    .where('organisation_id', '=', organisationId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return m && { organisationId: m.organisation_id, userId: m.user_id, role: m.role };
}

export async function requireMember(
  ctx: Pick<AppContext, 'db'>,
  organisationId: string,
  userId: string,
): Promise<Membership> {
  const m = await membershipOf(ctx.db, organisationId, userId);
  if (!m) throw organisationNotFound();
  return m;
}

/** Owners and admins manage the organisation. */
export async function requireAdmin(
  ctx: Pick<AppContext, 'db'>,
  organisationId: string,
  userId: string,
): Promise<Membership> {
  const m = await requireMember(ctx, organisationId, userId);
  if (m.role === 'member')
    throw new DomainError(403, 'forbidden', 'Admins only', "Only the organisation's owners and admins can do this.");
  return m;
}

export async function requireOwner(
  ctx: Pick<AppContext, 'db'>,
  organisationId: string,
  userId: string,
): Promise<Membership> {
  const m = await requireMember(ctx, organisationId, userId);
  if (m.role !== 'owner')
    throw new DomainError(403, 'forbidden', 'Owners only', "Only the organisation's owners can do this.");
  return m;
}

import type { AppContext } from '../platform/context';
import { DomainError } from '../platform/errors';
import { requireMember } from './access';
import { recordOrganisationConsent, sharingConsentInForce } from './consent';

/**
 * Leaving, and withdrawing or giving again the consent to share. Both end the organisation's access
 * in the same transaction that records them: the shared rows go, so the next admin request (and any
 * ZIP started after it) finds nothing of this member.
 */
export async function leaveOrganisation(ctx: AppContext, userId: string, organisationId: string): Promise<void> {
  const m = await requireMember(ctx, organisationId, userId);
  const now = ctx.clock.now();
  await ctx.db.transaction().execute(async (trx) => {
    await trx.selectFrom('organisations').select('id').where('id', '=', organisationId).forUpdate().executeTakeFirst();
    if (m.role === 'owner') {
      const owners = await trx
        .selectFrom('organisation_members')
        .select('user_id')
        .where('organisation_id', '=', organisationId)
        .where('role', '=', 'owner')
        .execute();
      if (owners.length === 1)
        throw new DomainError(409, 'last_owner', 'The last owner cannot leave', 'Make another member an owner first.');
    }
    await trx
      .deleteFrom('shared_headshots')
      .where('organisation_id', '=', organisationId)
      .where('user_id', '=', userId)
      .execute();
    await trx
      .deleteFrom('organisation_members')
      .where('organisation_id', '=', organisationId)
      .where('user_id', '=', userId)
      .execute();
    await recordOrganisationConsent(trx, now, { organisationId, userId, granted: false, source: 'left' });
  });
}

/** Consent to share with this organisation: withdrawing removes every shared headshot at once; giving it again shares nothing by itself. */
export async function setSharingConsent(
  ctx: AppContext,
  userId: string,
  organisationId: string,
  granted: boolean,
): Promise<{ granted: boolean; changed: boolean }> {
  await requireMember(ctx, organisationId, userId);
  const now = ctx.clock.now();
  const current = await sharingConsentInForce(ctx, organisationId, userId);
  await ctx.db.transaction().execute(async (trx) => {
    if (current !== granted)
      await recordOrganisationConsent(trx, now, { organisationId, userId, granted, source: 'settings' });
    if (!granted)
      await trx
        .deleteFrom('shared_headshots')
        .where('organisation_id', '=', organisationId)
        .where('user_id', '=', userId)
        .execute();
  });
  return { granted, changed: current !== granted };
}

/** Owners change a member's role (there is always at least one owner). */
export async function setRole(
  ctx: AppContext,
  userId: string,
  organisationId: string,
  memberId: string,
  role: 'owner' | 'admin' | 'member',
): Promise<void> {
  const me = await requireMember(ctx, organisationId, userId);
  if (me.role !== 'owner') throw new DomainError(403, 'forbidden', 'Owners only', 'Only owners can change roles.');
  await ctx.db.transaction().execute(async (trx) => {
    await trx.selectFrom('organisations').select('id').where('id', '=', organisationId).forUpdate().executeTakeFirst();
    const target = await trx
      .selectFrom('organisation_members')
      .select('role')
      .where('organisation_id', '=', organisationId)
      .where('user_id', '=', memberId)
      .executeTakeFirst();
    if (!target)
      throw new DomainError(
        404,
        'not_found',
        'Member not found',
        'No member with that id belongs to this organisation.',
      );
    if (target.role === 'owner' && role !== 'owner') {
      const owners = await trx
        .selectFrom('organisation_members')
        .select('user_id')
        .where('organisation_id', '=', organisationId)
        .where('role', '=', 'owner')
        .execute();
      if (owners.length === 1)
        throw new DomainError(409, 'last_owner', 'The last owner', 'Make another member an owner first.');
    }
    await trx
      .updateTable('organisation_members')
      .set({ role })
      .where('organisation_id', '=', organisationId)
      .where('user_id', '=', memberId)
      .execute();
  });
}

/** An admin removes a member: the same as the member leaving (their shared headshots go at once). */
export async function removeMember(
  ctx: AppContext,
  userId: string,
  organisationId: string,
  memberId: string,
): Promise<void> {
  const me = await requireMember(ctx, organisationId, userId);
  if (me.role === 'member')
    throw new DomainError(403, 'forbidden', 'Admins only', "Only the organisation's owners and admins can do this.");
  const target = await requireMember(ctx, organisationId, memberId).catch(() => {
    throw new DomainError(404, 'not_found', 'Member not found', 'No member with that id belongs to this organisation.');
  });
  if (target.role === 'owner' && me.role !== 'owner')
    throw new DomainError(403, 'forbidden', 'Owners only', 'Only owners can remove an owner.');
  await leaveOrganisation(ctx, memberId, organisationId);
}

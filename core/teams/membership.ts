import { sendEmailOnce } from '../notifications/email';
import { appLink } from '../notifications/links';
import type { AppContext } from '../platform/context';
import type { Db } from '../platform/db';
import { DomainError } from '../platform/errors';
import { requireMember } from './access';
import { recordOrganisationConsent, sharingConsentInForce } from './consent';

/** Refuses, under the organisation's row lock, a change that would leave it without an owner. */
async function keepAnOwner(trx: Db, organisationId: string, title: string): Promise<void> {
  const owners = await trx
    .selectFrom('organisation_members')
    .select('user_id')
    .where('organisation_id', '=', organisationId)
    .where('role', '=', 'owner')
    .execute();
  if (owners.length === 1) throw new DomainError(409, 'last_owner', title, 'Make another member an owner first.');
}

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
    if (m.role === 'owner') await keepAnOwner(trx, organisationId, 'The last owner cannot leave');
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
    if (target.role === 'owner' && role !== 'owner') await keepAnOwner(trx, organisationId, 'The last owner');
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

/** An organisation whose only owner's account was deleted, and the member who owns it now. */
export interface HandedOver {
  organisationId: string;
  name: string;
  ownerId: string;
}

/**
 * An account being deleted, in its deletion's transaction: each organisation it is the only owner
 * of passes to its longest-standing admin, else its longest-standing member, so none is left that
 * no one can manage. One with no one else in it is closed: its invitations, brand, credits and
 * webhooks go with it; its seat purchases stay as transaction records.
 */
export async function handOverOwnership(
  trx: Db,
  userId: string,
): Promise<{ handedOver: HandedOver[]; closed: number }> {
  const owned = await trx
    .selectFrom('organisation_members')
    .innerJoin('organisations', 'organisations.id', 'organisation_members.organisation_id')
    .select(['organisations.id', 'organisations.name'])
    .where('organisation_members.user_id', '=', userId)
    .where('organisation_members.role', '=', 'owner')
    .orderBy('organisations.id')
    .execute();
  const handedOver: HandedOver[] = [];
  let closed = 0;
  for (const org of owned) {
    // The organisation's row lock, as every change of its roles takes.
    await trx.selectFrom('organisations').select('id').where('id', '=', org.id).forUpdate().execute();
    const others = await trx
      .selectFrom('organisation_members')
      .select(['user_id', 'role'])
      .where('organisation_id', '=', org.id)
      .where('user_id', '!=', userId)
      .orderBy((eb) => eb.case().when('role', '=', 'owner').then(0).when('role', '=', 'admin').then(1).else(2).end())
      .orderBy('joined_at')
      .orderBy('user_id')
      .execute();
    if (others[0]?.role === 'owner') continue;
    if (!others.length) {
      await trx.deleteFrom('organisations').where('id', '=', org.id).execute();
      closed++;
      continue;
    }
    const next = others[0].user_id;
    await trx
      .updateTable('organisation_members')
      .set({ role: 'owner' })
      .where('organisation_id', '=', org.id)
      .where('user_id', '=', next)
      .execute();
    handedOver.push({ organisationId: org.id, name: org.name, ownerId: next });
  }
  return { handedOver, closed };
}

/** Tells each new owner, once, why they own the organisation now and where to manage it. */
export async function tellNewOwners(ctx: AppContext, handedOver: HandedOver[]): Promise<void> {
  for (const h of handedOver)
    await sendEmailOnce(ctx, {
      userId: h.ownerId,
      kind: 'team-owner',
      dedupeKey: `team-owner:${h.organisationId}:${h.ownerId}`,
      build: (to) => ({
        subject: `You are now an owner of ${h.name} on Rasmi`,
        text: `Hello ${to.name},\n\nThe only owner of ${h.name} deleted their Rasmi account, so its ownership passed to you: you now manage its members, seats, brand and billing. Make someone else an owner, or see the organisation, here: ${appLink(ctx, 'organisation', { id: h.organisationId })}\n\nRasmi`,
      }),
    });
}

import { sql } from 'kysely';
import { sendEmailOnce, sendToAddressOnce } from '../notifications/email';
import { appLink } from '../notifications/links';
import type { AppContext } from '../platform/context';
import { DAY_MS } from '../platform/config';
import { decryptField, signToken } from '../platform/crypto';

/**
 * A reminder to invitees who have not uploaded a photo after the organisation's reminder_days: an
 * email invitation not yet used, or a member who joined and has no photo. At most one a period of
 * reminder_days: the dedupe key names the period, so running the sweep again sends nothing twice.
 */
export async function sweepReminders(ctx: AppContext, batch = 500): Promise<{ invitations: number; members: number }> {
  const now = ctx.clock.now();
  const period = (since: Date, days: number) =>
    Math.floor((now.getTime() - new Date(since).getTime()) / (days * DAY_MS));
  const invitations = await ctx.db
    .selectFrom('organisation_invitations')
    .innerJoin('organisations', 'organisations.id', 'organisation_invitations.organisation_id')
    .select([
      'organisation_invitations.id',
      'organisation_invitations.email_enc',
      'organisation_invitations.created_at',
      'organisation_invitations.expires_at',
      'organisations.name',
      'organisations.reminder_days',
    ])
    .where('organisation_invitations.kind', '=', 'email')
    .where('organisation_invitations.accepted_at', 'is', null)
    .where('organisation_invitations.revoked_at', 'is', null)
    .where('organisation_invitations.expires_at', '>', now)
    .where(sql<boolean>`organisation_invitations.created_at + organisations.reminder_days * interval '1 day' <= ${now}`)
    .limit(batch)
    .execute();
  let sentInvitations = 0;
  for (const i of invitations) {
    const link = appLink(ctx, 'join', { token: signToken(ctx.config.LINK_SECRET, 'team-invite', { i: i.id }) });
    const sent = await sendToAddressOnce(ctx, {
      to: decryptField(ctx.pii, i.email_enc!),
      kind: 'team-reminder',
      dedupeKey: `team-reminder:${i.id}:${period(i.created_at, i.reminder_days)}`,
      message: {
        subject: `Reminder: ${i.name} invites you to Rasmi`,
        text: `${i.name} invited you to make your professional headshot with Rasmi. Your invitation is still open until ${new Date(i.expires_at).toISOString().slice(0, 10)}:\n${link}`,
      },
    });
    if (sent) sentInvitations++;
  }
  const members = await ctx.db
    .selectFrom('organisation_members')
    .innerJoin('organisations', 'organisations.id', 'organisation_members.organisation_id')
    .select([
      'organisation_members.organisation_id',
      'organisation_members.user_id',
      'organisation_members.joined_at',
      'organisations.name',
      'organisations.reminder_days',
    ])
    .where('organisation_members.role', '=', 'member')
    .where(sql<boolean>`organisation_members.joined_at + organisations.reminder_days * interval '1 day' <= ${now}`)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('photos').select('photos.id').whereRef('photos.user_id', '=', 'organisation_members.user_id'),
        ),
      ),
    )
    .limit(batch)
    .execute();
  let sentMembers = 0;
  for (const m of members) {
    const sent = await sendEmailOnce(ctx, {
      userId: m.user_id,
      kind: 'team-reminder',
      dedupeKey: `team-reminder:${m.organisation_id}:${m.user_id}:${period(m.joined_at, m.reminder_days)}`,
      build: ({ name }) => ({
        subject: `Your ${m.name} headshot is waiting`,
        text: `Hello ${name},\n\n${m.name} has a headshot for you. Upload a few selfies to make it: ${appLink(ctx, 'photos')}\n\nRasmi`,
      }),
    });
    if (sent) sentMembers++;
  }
  return { invitations: sentInvitations, members: sentMembers };
}

/** How long an invitee's address, and a webhook's delivery log, are kept once they are of no more use. */
export const TEAM_RECORDS_DAYS = 30;

/**
 * An invitee's email address is personal data of someone who may never join: it is erased once
 * the invitation has been used, revoked or expired for TEAM_RECORDS_DAYS (the row stays, without
 * it, for the admins' list). Finished webhook deliveries (ids only) go after as long (RT6).
 */
export async function sweepTeamRecords(ctx: AppContext): Promise<{ invitation_addresses: number; deliveries: number }> {
  const cutoff = new Date(ctx.clock.now().getTime() - TEAM_RECORDS_DAYS * DAY_MS);
  const erased = await ctx.db
    .updateTable('organisation_invitations')
    .set({ email_enc: null, email_hash: null })
    .where('email_enc', 'is not', null)
    .where((eb) =>
      eb.or([eb('expires_at', '<', cutoff), eb('revoked_at', '<', cutoff), eb('accepted_at', '<', cutoff)]),
    )
    .executeTakeFirst();
  const deleted = await ctx.db
    .deleteFrom('webhook_deliveries')
    .where('status', '!=', 'pending')
    .where('created_at', '<', cutoff)
    .executeTakeFirst();
  return { invitation_addresses: Number(erased.numUpdatedRows), deliveries: Number(deleted.numDeletedRows) };
}

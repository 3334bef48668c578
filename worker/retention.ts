import { appLink } from '../core/notifications/links';
import { DAY_MS } from '../core/platform/config';
import { deleteHeadshots, deletePhotos, deleteUser, purgePayments } from '../core/privacy/deletion';
import type { HandlersFor } from '../core/platform/workers';
import { sendEmailOnce } from '../core/notifications/email';
import { cutoffs, headshotDue, photoDue } from '../core/privacy/retention';

type RetentionJobs =
  | 'retention.delete-photos'
  | 'retention.delete-headshots'
  | 'retention.delete-user'
  | 'retention.warn-user'
  | 'retention.purge-payments';

/**
 * Per-batch retention jobs. Each re-checks that its rows are still due at run time (the clock
 * may have been moved, a person may have signed in since), then deletes through core/privacy/deletion.
 */
export const retentionHandlers: Pick<HandlersFor<'privacy'>, RetentionJobs> = {
  'retention.delete-photos': async (ctx, { photoIds }) => {
    const due = await ctx.db
      .selectFrom('photos')
      .select('id')
      .where('id', 'in', photoIds)
      .where(photoDue(cutoffs(ctx).originals))
      .execute();
    await deletePhotos(
      ctx,
      due.map((p) => p.id),
      'retention:originals',
    );
  },
  'retention.delete-headshots': async (ctx, { headshotIds }) => {
    const due = await ctx.db
      .selectFrom('headshots')
      .select('id')
      .where('id', 'in', headshotIds)
      .where(headshotDue(cutoffs(ctx).headshots))
      .execute();
    await deleteHeadshots(
      ctx,
      due.map((h) => h.id),
      'retention:headshots',
    );
  },
  'retention.purge-payments': async (ctx, { paymentIds }) => {
    const due = await ctx.db
      .selectFrom('payments')
      .select('id')
      .where('id', 'in', paymentIds)
      .where('created_at', '<', cutoffs(ctx).transactions)
      .execute();
    await purgePayments(
      ctx,
      due.map((p) => p.id),
      'retention:transactions',
    );
  },
  'retention.warn-user': async (ctx, { userId }) => {
    const user = await ctx.db
      .selectFrom('users')
      .select(['id', 'last_used_at', 'status'])
      .where('id', '=', userId)
      .executeTakeFirst();
    if (!user || user.status !== 'active' || new Date(user.last_used_at) >= cutoffs(ctx).warning) return;
    const deleteOn = new Date(new Date(user.last_used_at).getTime() + ctx.config.RETENTION_PERSONAL_DATA_DAYS * DAY_MS);
    await sendEmailOnce(ctx, {
      userId,
      kind: 'retention-warning',
      dedupeKey: `retention-warning-${userId}-${new Date(user.last_used_at).getTime()}`,
      build: ({ name }) => ({
        subject: 'Your Rasmi account will be deleted unless you keep it',
        text: `Hello ${name},\n\nYou have not used Rasmi for a while. As our privacy policy says, we delete personal information one year after the last use of the service: your account and its data will be deleted on ${deleteOn.toISOString().slice(0, 10)}.\nTo keep your account, simply sign in before then: ${appLink(ctx, 'photos')}\n\nRasmi`,
      }),
    });
    await ctx.db.updateTable('users').set({ retention_warned_at: ctx.clock.now() }).where('id', '=', userId).execute();
  },
  'retention.delete-user': async (ctx, { userId }) => {
    const user = await ctx.db
      .selectFrom('users')
      .select(['last_used_at', 'role'])
      .where('id', '=', userId)
      .executeTakeFirst();
    if (!user || user.role !== 'customer' || new Date(user.last_used_at) >= cutoffs(ctx).personal) return;
    await deleteUser(ctx, userId, 'retention:personal-data');
  },
};

import { sql } from 'kysely';
import { jobId } from '../core/platform/jobs';
import type { HandlersFor } from '../core/platform/workers';
import { resumeOrder } from '../core/orders/orders';
import { sweepRetention } from '../core/privacy/retention';
import { sweepConsentWithdrawals } from '../core/privacy/consent-changes';
import { sweepUsageData } from '../core/privacy/cookies';
import { rightsSweeps } from './rights';
import { breachSweeps } from './breaches';
import { policyNoticeSweeps } from './policy-notices';
import { inquirySweeps } from './inquiries';
import { recordSweep } from '../core/platform/metrics';
import { sweepWebhooks } from '../core/teams/webhooks';
import { sweepReminders, sweepTeamRecords } from '../core/teams/reminders';

/** How long a paid order may sit without finishing before its jobs are re-driven. */
export const STALLED_AFTER_MINUTES = 10;
const BATCH = 500;

/** Sweeps find due work in Postgres in batches: nothing depends on a delayed job. */
export const sweepHandlers: HandlersFor<'sweeps'> = {
  'sweep.stalled-orders': async (ctx) => {
    const cutoff = new Date(ctx.clock.now().getTime() - STALLED_AFTER_MINUTES * 60_000);
    const stalled = await ctx.db
      .selectFrom('orders')
      .select('id')
      .where('status', 'in', ['received', 'processing'])
      .where(sql<boolean>`coalesce(paid_at, created_at) < ${cutoff}`)
      .orderBy('paid_at')
      .limit(BATCH)
      .execute();
    for (const o of stalled) await resumeOrder(ctx, o.id);
    // Uploads whose preparation job was lost (Redis flushed) or failed for good: the raw upload must not linger.
    const unprepared = await ctx.db
      .selectFrom('photos')
      .select('id')
      .where('status', '=', 'preparing')
      .where('uploaded_at', '<', cutoff)
      .orderBy('uploaded_at')
      .limit(BATCH)
      .execute();
    for (const p of unprepared) await ctx.queues.redrive('photo.prepare', { photoId: p.id }, jobId('prepare', p.id));
    // Prepared photos whose verdict job was lost: the owner is waiting to learn whether they are usable.
    const unjudged = await ctx.db
      .selectFrom('photos')
      .select('id')
      .where('status', '=', 'analysing')
      .where('uploaded_at', '<', cutoff)
      .orderBy('uploaded_at')
      .limit(BATCH)
      .execute();
    for (const p of unjudged) await ctx.queues.redrive('photo.analyse', { photoId: p.id }, jobId('analyse', p.id));
    const photos = unprepared.length + unjudged.length;
    // Refunds recorded but not yet confirmed by the processor (its outage outlasted the job's attempts).
    const refunds = await ctx.db
      .selectFrom('refunds')
      .select('order_id')
      .where('status', '=', 'pending')
      .where('created_at', '<', cutoff)
      .where('order_id', 'is not', null)
      .orderBy('created_at')
      .limit(BATCH)
      .execute();
    for (const r of refunds)
      await ctx.queues.redrive('order.refund', { orderId: r.order_id! }, jobId('refund', r.order_id!));
    recordSweep('stalled-orders', {
      redriven: stalled.length,
      photos_redriven: photos,
      refunds_redriven: refunds.length,
    });
    if (stalled.length || photos)
      ctx.logger.info({ sweep: 'stalled-orders', count: stalled.length, photos }, 'sweep re-drove stalled work');
  },
  'sweep.retention': async (ctx) => {
    const found = await sweepRetention(ctx);
    recordSweep('retention', found);
    ctx.logger.info({ sweep: 'retention', ...found }, 'retention sweep fanned out');
  },
  'sweep.usage-data': async (ctx) => {
    const deleted = await sweepUsageData(ctx);
    recordSweep('usage-data', deleted);
    ctx.logger.info({ sweep: 'usage-data', ...deleted }, 'usage data past retention deleted');
  },
  'sweep.consent-withdrawals': async (ctx) => {
    const found = await sweepConsentWithdrawals(ctx);
    recordSweep('consent-withdrawals', found);
    if (found.portfolio || found.marketing)
      ctx.logger.info({ sweep: 'consent-withdrawals', ...found }, 'withdrawals fanned out');
  },
  'sweep.team-webhooks': async (ctx) => {
    const due = await sweepWebhooks(ctx);
    recordSweep('team-webhooks', { queued: due });
  },
  'sweep.team-reminders': async (ctx) => {
    const sent = await sweepReminders(ctx);
    const erased = await sweepTeamRecords(ctx);
    recordSweep('team-reminders', { ...sent, ...erased });
    if (sent.invitations || sent.members || erased.invitation_addresses || erased.deliveries)
      ctx.logger.info({ sweep: 'team-reminders', ...sent, ...erased }, 'team reminders sent, old team records erased');
  },
  ...rightsSweeps,
  ...breachSweeps,
  ...policyNoticeSweeps,
  ...inquirySweeps,
};

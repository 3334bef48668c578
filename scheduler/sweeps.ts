import type { HandlersFor } from '../core/platform/workers';
import { redriveStalledRefunds, resumeStalledOrders } from '../core/orders/orders';
import { redriveStalledPhotos } from '../core/photos/lifecycle';
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
    const stalled = await resumeStalledOrders(ctx, cutoff, BATCH);
    const photos = await redriveStalledPhotos(ctx, cutoff, BATCH);
    const refunds = await redriveStalledRefunds(ctx, cutoff, BATCH);
    recordSweep('stalled-orders', { redriven: stalled, photos_redriven: photos, refunds_redriven: refunds });
    if (stalled || photos)
      ctx.logger.info({ sweep: 'stalled-orders', count: stalled, photos }, 'sweep re-drove stalled work');
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

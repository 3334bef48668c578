import { applyWithdrawal } from '../core/privacy/consent-changes';
import { consentsOf } from '../core/privacy/consent';
import type { HandlersFor } from '../core/platform/workers';
import { fanOutCampaign, sendCampaignEmail } from '../core/privacy/marketing';

type ConsentJobs = 'marketing.fanout' | 'marketing.send' | 'consent.apply-withdrawal';

/** Marketing sends and withdrawal clean-ups; each re-checks consent when it runs. */
export const consentHandlers: Pick<HandlersFor<'privacy'>, ConsentJobs> = {
  'marketing.fanout': async (ctx, { campaignId }) => {
    const queued = await fanOutCampaign(ctx, campaignId);
    ctx.logger.info({ campaignId, queued }, 'marketing campaign fanned out');
  },
  'marketing.send': async (ctx, { campaignId, userId }) => {
    await sendCampaignEmail(ctx, campaignId, userId);
  },
  'consent.apply-withdrawal': async (ctx, { userId, purpose }) => {
    // Re-opted in since the sweep found it: nothing to remove.
    if ((await consentsOf(ctx, userId))[purpose]) return;
    await applyWithdrawal(ctx, userId, purpose, 'sweep');
  },
};

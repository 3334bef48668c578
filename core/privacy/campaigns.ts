import type { AppContext } from '../platform/context';
import { newId } from '../platform/crypto';
import type { Db } from '../platform/db';
import { DomainError } from '../platform/errors';
import { jobId } from '../platform/jobs';
import { changeConsent } from './consent-changes';
import { userFromUnsubscribeToken } from './marketing';

/** Marketing campaigns and the one-click unsubscribe every marketing email links to (CN1, RT5). */

/** Records a campaign, in the caller's transaction; queueCampaign sends it once committed. */
export async function createCampaign(
  ctx: AppContext,
  db: Db,
  adminId: string,
  campaign: { subject: string; text: string },
): Promise<string> {
  const id = newId('cmp');
  await db
    .insertInto('marketing_campaigns')
    .values({ id, subject: campaign.subject, body: campaign.text, created_by: adminId, created_at: ctx.clock.now() })
    .execute();
  return id;
}

/** Queues a committed campaign's fan-out to everyone whose marketing consent is in force (the fixed job id makes it once). */
export async function queueCampaign(ctx: AppContext, campaignId: string): Promise<void> {
  await ctx.queues.enqueue('marketing.fanout', { campaignId }, { jobId: jobId('marketing-fanout', campaignId) });
}

/** The person an unsubscribe link names; link_invalid for a link that was not made by us. */
export function unsubscribeLinkOwner(ctx: AppContext, token: string): string {
  const userId = userFromUnsubscribeToken(ctx, token);
  if (!userId) throw new DomainError(404, 'link_invalid', 'Invalid link', 'This unsubscribe link is not valid.');
  return userId;
}

/** Withdraws marketing consent and removes marketing data; a link for a deleted account does nothing. */
export async function unsubscribe(ctx: AppContext, token: string): Promise<void> {
  const userId = unsubscribeLinkOwner(ctx, token);
  const user = await ctx.db.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst();
  if (user) await changeConsent(ctx, user.id, 'marketing', false, 'unsubscribe-link');
}

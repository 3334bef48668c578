import { appLink } from '../notifications/links';
import { sql } from 'kysely';
import type { AppContext } from '../platform/context';
import { consentInForce } from './consent-sql';
import { signToken, verifyToken } from '../platform/crypto';
import { JOBS, jobId } from '../platform/jobs';
import { sendEmailOnce } from '../notifications/email';
import { recordRemoval } from './removal-record';

/**
 * Marketing email (CN1, RT5). Only people whose marketing consent is in force get a campaign, and
 * it is checked twice: when the campaign fans out and again when each email is sent, so a
 * withdrawal in between stops it. Every email has RFC 8058 one-click unsubscribe headers.
 *
 * "Marketing data" in this schema, removed when the person unsubscribes or withdraws consent:
 *  - the record of which marketing emails they were sent (notifications of kind 'marketing');
 *  - marketing tracking: analytics events named `marketing.*` (campaign attribution, conversions)
 *    tied to them, or to a browser whose cookie choices they made while signed in.
 * The consent history itself is kept: it is the proof of the opt-in and of its withdrawal.
 */

export const MARKETING_KIND = 'marketing';
export const MARKETING_EVENT_PREFIX = 'marketing.';
const FANOUT_BATCH = 500;

/** Signed, without expiry: an unsubscribe link must keep working in an old email. */
export function unsubscribeToken(ctx: AppContext, userId: string): string {
  return signToken(ctx.config.LINK_SECRET, 'unsubscribe', { u: userId });
}

/** The one-click address for mail clients (RFC 8058: List-Unsubscribe with a POST). */
export function unsubscribeUrl(ctx: AppContext, userId: string): string {
  return `${ctx.publicUrl}/v1/unsubscribe/${unsubscribeToken(ctx, userId)}`;
}

export function userFromUnsubscribeToken(ctx: AppContext, token: string): string | null {
  const claim = verifyToken<{ u?: unknown }>(ctx.config.LINK_SECRET, 'unsubscribe', token);
  return typeof claim?.u === 'string' ? claim.u : null;
}

export async function removeMarketingData(ctx: AppContext, userId: string, reason: string): Promise<void> {
  const emails = await ctx.db
    .deleteFrom('notifications')
    .where('user_id', '=', userId)
    .where('kind', '=', MARKETING_KIND)
    .executeTakeFirst();
  const events = await ctx.db
    .deleteFrom('analytics_events')
    .where('name', 'like', `${MARKETING_EVENT_PREFIX}%`)
    .where((eb) =>
      eb.or([
        eb('user_id', '=', userId),
        eb('visitor_id', 'in', eb.selectFrom('cookie_consents').select('visitor_id').where('user_id', '=', userId)),
      ]),
    )
    .executeTakeFirst();
  await recordRemoval(ctx, {
    subjectId: userId,
    subjectKind: 'marketing_data',
    reason,
    details: { marketing_emails: Number(emails.numDeletedRows), marketing_events: Number(events.numDeletedRows) },
  });
}

/** Queues one 'marketing.send' per consenting person, in batches; fixed job ids make it re-runnable. */
export async function fanOutCampaign(ctx: AppContext, campaignId: string): Promise<number> {
  const campaign = await ctx.db
    .selectFrom('marketing_campaigns')
    .select('id')
    .where('id', '=', campaignId)
    .executeTakeFirst();
  if (!campaign) return 0;
  let queued = 0;
  for (let after = ''; ; ) {
    const users = await ctx.db
      .selectFrom('users')
      .select('id')
      .where('status', '=', 'active')
      .where('id', '>', after)
      .where(consentInForce('users.id', 'marketing'))
      .orderBy('id')
      .limit(FANOUT_BATCH)
      .execute();
    if (!users.length) break;
    await ctx.queues.byName[JOBS['marketing.send'].queue].addBulk(
      users.map((u) => ({
        name: 'marketing.send',
        data: JOBS['marketing.send'].payload.parse({ userId: u.id, campaignId }),
        opts: { jobId: jobId('marketing', campaignId, u.id) },
      })),
    );
    queued += users.length;
    after = users[users.length - 1].id;
  }
  await ctx.db
    .updateTable('marketing_campaigns')
    .set({ fanned_out_at: sql`coalesce(fanned_out_at, ${ctx.clock.now()})` })
    .where('id', '=', campaignId)
    .execute();
  return queued;
}

/** Sends one campaign email, at most once, and only if the person's consent is still in force. */
export async function sendCampaignEmail(ctx: AppContext, campaignId: string, userId: string): Promise<boolean> {
  const campaign = await ctx.db
    .selectFrom('marketing_campaigns')
    .select(['subject', 'body'])
    .where('id', '=', campaignId)
    .executeTakeFirst();
  if (!campaign) return false;
  const consenting = await ctx.db
    .selectFrom('users')
    .select('id')
    .where('id', '=', userId)
    .where('status', '=', 'active')
    .where(consentInForce('users.id', 'marketing'))
    .executeTakeFirst();
  if (!consenting) return false;
  const url = unsubscribeUrl(ctx, userId);
  return sendEmailOnce(ctx, {
    userId,
    kind: MARKETING_KIND,
    dedupeKey: `marketing-${campaignId}-${userId}`,
    build: ({ name }) => ({
      subject: campaign.subject,
      text: `Hello ${name},\n\n${campaign.body}\n\n--\nYou receive this because you opted in to news from Rasmi.\nUnsubscribe: ${appLink(ctx, 'unsubscribe', { token: unsubscribeToken(ctx, userId) })}\n`,
      headers: { 'List-Unsubscribe': `<${url}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
      stream: 'broadcast',
    }),
  });
}

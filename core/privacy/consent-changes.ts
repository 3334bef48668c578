import type { AppContext } from '../platform/context';
import { consentsOf, recordConsent } from './consent';
import type { Purpose } from '../platform/db';
import { jobId } from '../platform/jobs';
import { consentInForce, latestConsentId } from './consent-sql';
import { MARKETING_EVENT_PREFIX, MARKETING_KIND, removeMarketingData } from './marketing';
import { publishPortfolio, unpublishPortfolio } from './portfolio';

/**
 * A consent decision and what it sets off at once (RG5: effective immediately). Only a change is
 * written to the history; a withdrawal always re-applies its effects, which are idempotent.
 * Rights requests that record a restriction or objection should call this (or
 * applyWithdrawal after recordConsent) so the data goes at once; the consent sweep catches any
 * withdrawal recorded elsewhere.
 */
export async function changeConsent(
  ctx: AppContext,
  userId: string,
  purpose: Purpose,
  granted: boolean,
  source: string,
): Promise<boolean> {
  const current = (await consentsOf(ctx, userId))[purpose];
  if (current !== granted) await recordConsent(ctx, userId, purpose, granted, source);
  if (granted && purpose === 'portfolio') await publishPortfolio(ctx, userId);
  if (!granted) await applyWithdrawal(ctx, userId, purpose, source);
  return current !== granted;
}

/** What withdrawing a purpose removes: the public portfolio copies (CN4) and marketing data (RT5). */
export async function applyWithdrawal(
  ctx: AppContext,
  userId: string,
  purpose: Purpose,
  reason: string,
): Promise<void> {
  if (purpose === 'portfolio') await unpublishPortfolio(ctx, userId, `consent-withdrawn:${reason}`);
  if (purpose === 'marketing') await removeMarketingData(ctx, userId, `consent-withdrawn:${reason}`);
}

/**
 * Catches withdrawals recorded by any path (a restriction or objection request writes the consent
 * row directly): people whose portfolio or marketing consent is off but who still have portfolio
 * items or marketing data get one 'consent.apply-withdrawal' job each (CN4, RT5).
 */
export async function sweepConsentWithdrawals(ctx: AppContext): Promise<{ portfolio: number; marketing: number }> {
  const portfolio = await ctx.db
    .selectFrom('portfolio_items')
    .select(['user_id', latestConsentId('portfolio_items.user_id', 'portfolio').as('consent_id')])
    .where((eb) => eb.not(consentInForce('portfolio_items.user_id', 'portfolio')))
    .groupBy('user_id')
    .limit(500)
    .execute();
  const marketing = await ctx.db
    .selectFrom((eb) =>
      eb
        .selectFrom('notifications')
        .select('user_id')
        .where('kind', '=', MARKETING_KIND)
        .union(eb.selectFrom('analytics_events').select('user_id').where('name', 'like', `${MARKETING_EVENT_PREFIX}%`))
        .as('m'),
    )
    .select(['m.user_id', latestConsentId('m.user_id', 'marketing').as('consent_id')])
    .where('m.user_id', 'is not', null)
    .where((eb) => eb.not(consentInForce('m.user_id', 'marketing')))
    .limit(500)
    .execute();
  for (const [purpose, rows] of [
    ['portfolio', portfolio],
    ['marketing', marketing],
  ] as const) {
    for (const r of rows) {
      await ctx.queues.enqueue(
        'consent.apply-withdrawal',
        { userId: r.user_id!, purpose },
        { jobId: jobId('withdrawal', purpose, r.user_id!, r.consent_id ?? 'none') },
      );
    }
  }
  return { portfolio: portfolio.length, marketing: marketing.length };
}

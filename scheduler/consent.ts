import { sql } from 'kysely';
import { DAY_MS } from '../core/platform/config';
import type { AppContext } from '../core/platform/context';
import { consentInForce } from '../core/privacy/consent-sql';
import type { Purpose } from '../core/platform/db';
import { jobId } from '../core/platform/jobs';
import { MARKETING_EVENT_PREFIX, MARKETING_KIND } from '../core/privacy/marketing';
import { recordRemoval } from '../core/privacy/removal-record';

const BATCH = 5000;

/**
 * Usage data has a finite retention (RT6): analytics events, and the cookie choices of browsers
 * never tied to an account, are deleted once older than USAGE_DATA_RETENTION_DAYS. Deleted in
 * batches so one sweep clears any backlog without a long lock.
 */
export async function sweepUsageData(ctx: AppContext): Promise<{ analytics_events: number; cookie_consents: number }> {
  const cutoff = new Date(ctx.clock.now().getTime() - ctx.config.USAGE_DATA_RETENTION_DAYS * DAY_MS);
  const counts = { analytics_events: 0, cookie_consents: 0 };
  for (;;) {
    const r = await ctx.db
      .deleteFrom('analytics_events')
      .where('id', 'in', (eb) =>
        eb.selectFrom('analytics_events').select('id').where('occurred_at', '<', cutoff).limit(BATCH),
      )
      .executeTakeFirst();
    counts.analytics_events += Number(r.numDeletedRows);
    if (Number(r.numDeletedRows) < BATCH) break;
  }
  for (;;) {
    const r = await ctx.db
      .deleteFrom('cookie_consents')
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('cookie_consents')
          .select('id')
          .where('user_id', 'is', null)
          .where('recorded_at', '<', cutoff)
          .limit(BATCH),
      )
      .executeTakeFirst();
    counts.cookie_consents += Number(r.numDeletedRows);
    if (Number(r.numDeletedRows) < BATCH) break;
  }
  await recordRemoval(ctx, {
    subjectId: `usage-data-before-${cutoff.toISOString()}`,
    subjectKind: 'usage_data',
    reason: 'retention:usage-data',
    details: counts,
  });
  return counts;
}

/** The newest consent row of a (user, purpose): part of the job id, so each withdrawal gets one job. */
const latestConsentId = (userIdColumn: string, purpose: Purpose) =>
  sql<
    string | null
  >`(select c.id from consents c where c.user_id = ${sql.ref(userIdColumn)} and c.purpose = ${purpose} order by c.recorded_at desc, c.id desc limit 1)`;

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

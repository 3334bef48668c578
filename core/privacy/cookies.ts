import type { AppContext } from '../platform/context';
import { DAY_MS } from '../platform/config';
import { newId } from '../platform/crypto';
import { consentsOf } from './consent';
import { MARKETING_EVENT_PREFIX } from './marketing';
import { coarseUserAgent, truncateIp } from './tracking';
import { recordRemoval } from './removal-record';

/**
 * A browser's cookie choices (CN2) and the usage events recorded under them (CN2, CN3, CN5). A
 * browser is known by its visitor id (the essential cookie); a signed-in person's own consent
 * must be in force as well.
 */

export interface CookieChoice {
  preference: boolean;
  analytics: boolean;
  marketing: boolean;
}

/** The choice in force for a browser, if it made one. */
export async function cookieChoiceOf(ctx: AppContext, visitorId: string) {
  return ctx.db
    .selectFrom('cookie_consents')
    .selectAll()
    .where('visitor_id', '=', visitorId)
    .orderBy('recorded_at', 'desc')
    .orderBy('id', 'desc')
    .executeTakeFirst();
}

/** Every consent decision a person made, newest first (the last 500). */
export async function consentHistory(ctx: AppContext, userId: string) {
  return ctx.db
    .selectFrom('consents')
    .select(['purpose', 'granted', 'source', 'recorded_at'])
    .where('user_id', '=', userId)
    .orderBy('recorded_at', 'desc')
    .orderBy('id', 'desc')
    .limit(500)
    .execute();
}

/** Records a browser's choice, kept with its history; withdrawing the marketing category removes the browser's marketing tracking (RT5). */
export async function recordCookieChoice(
  ctx: AppContext,
  visitor: { id: string; fresh: boolean },
  userId: string | undefined,
  choice: CookieChoice,
) {
  const before = visitor.fresh ? undefined : await cookieChoiceOf(ctx, visitor.id);
  const row = {
    id: newId('ckc'),
    visitor_id: visitor.id,
    user_id: userId ?? null,
    ...choice,
    recorded_at: ctx.clock.now(),
  };
  await ctx.db.insertInto('cookie_consents').values(row).execute();
  if (before?.marketing && !choice.marketing) {
    await ctx.db
      .deleteFrom('analytics_events')
      .where('visitor_id', '=', visitor.id)
      .where('name', 'like', `${MARKETING_EVENT_PREFIX}%`)
      .execute();
  }
  return row;
}

export interface UsageEvent {
  name: string;
  path?: string;
  ip?: string;
  userAgent?: string;
}

/**
 * Records a usage event only with the browser's consent to its category (a name starting with
 * "marketing." is marketing) and, signed in, the person's own; a restriction or objection turns
 * it off (RG4). The caller has already refused a browser sending DNT or GPC (CN3).
 */
export async function recordUsageEvent(
  ctx: AppContext,
  visitor: { id: string; fresh: boolean },
  userId: () => Promise<string | undefined>,
  event: UsageEvent,
): Promise<{ recorded: boolean; reason?: 'no_consent' }> {
  const category: 'analytics' | 'marketing' = event.name.startsWith(MARKETING_EVENT_PREFIX) ? 'marketing' : 'analytics';
  const choice = visitor.fresh ? undefined : await cookieChoiceOf(ctx, visitor.id);
  if (!choice?.[category]) return { recorded: false, reason: 'no_consent' };
  const user = await userId();
  if (user && !(await consentsOf(ctx, user))[category]) return { recorded: false, reason: 'no_consent' };
  await ctx.db
    .insertInto('analytics_events')
    .values({
      id: newId('evt'),
      visitor_id: visitor.id,
      user_id: user ?? null,
      name: event.name,
      // Query strings and fragments can carry personal data: the path only.
      path: event.path?.split(/[?#]/)[0] ?? null,
      ip_truncated: truncateIp(event.ip),
      ...coarseUserAgent(event.userAgent),
      occurred_at: ctx.clock.now(),
    })
    .execute();
  return { recorded: true };
}

const USAGE_DELETE_BATCH = 5000;

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
        eb.selectFrom('analytics_events').select('id').where('occurred_at', '<', cutoff).limit(USAGE_DELETE_BATCH),
      )
      .executeTakeFirst();
    counts.analytics_events += Number(r.numDeletedRows);
    if (Number(r.numDeletedRows) < USAGE_DELETE_BATCH) break;
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
          .limit(USAGE_DELETE_BATCH),
      )
      .executeTakeFirst();
    counts.cookie_consents += Number(r.numDeletedRows);
    if (Number(r.numDeletedRows) < USAGE_DELETE_BATCH) break;
  }
  await recordRemoval(ctx, {
    subjectId: `usage-data-before-${cutoff.toISOString()}`,
    subjectKind: 'usage_data',
    reason: 'retention:usage-data',
    details: counts,
  });
  return counts;
}

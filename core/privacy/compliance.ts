import { sql } from 'kysely';
import { DAY_MS } from '../platform/config';
import type { AppContext } from '../platform/context';
import { overdueCounts } from './retention';

/**
 * Per promise with a deadline, how many items are past it and not yet handled by the scheduler.
 * A healthy deployment reads all zeros after one round of sweeps; anything else needs a look.
 */
export interface ComplianceRow {
  promise: string;
  deadline: string;
  overdue: number;
}

export async function complianceReport(ctx: AppContext): Promise<ComplianceRow[]> {
  const c = ctx.config;
  const now = ctx.clock.now();
  const count = async (q: { executeTakeFirstOrThrow(): Promise<{ n: unknown }> }) =>
    Number((await q.executeTakeFirstOrThrow()).n);
  const n = sql<number>`count(*)`.as('n');
  const retention = await overdueCounts(ctx);
  const hours = (h: number) => new Date(now.getTime() - h * 3600_000);
  return [
    {
      promise: 'RT1',
      deadline: `originals deleted ${c.RETENTION_ORIGINALS_DAYS} days after processing`,
      overdue: retention.RT1,
    },
    {
      promise: 'RT2',
      deadline: `headshots deleted ${c.RETENTION_HEADSHOTS_DAYS} days after delivery`,
      overdue: retention.RT2,
    },
    {
      promise: 'RT3',
      deadline: `personal data deleted ${c.RETENTION_PERSONAL_DATA_DAYS} days after last use`,
      overdue: retention.RT3,
    },
    {
      promise: 'RT4',
      deadline: `transaction records purged after ${c.RETENTION_TRANSACTIONS_DAYS} days`,
      overdue: retention.RT4,
    },
    {
      promise: 'RT6',
      deadline: `usage data deleted after ${c.USAGE_DATA_RETENTION_DAYS} days`,
      overdue: await count(
        ctx.db
          .selectFrom('analytics_events')
          .select(n)
          .where('occurred_at', '<', new Date(now.getTime() - c.USAGE_DATA_RETENTION_DAYS * DAY_MS)),
      ),
    },
    {
      promise: 'RG1',
      deadline: `data exports deleted ${c.EXPORT_RETENTION_DAYS} days after they are ready`,
      overdue: await count(
        ctx.db
          .selectFrom('rights_requests')
          .select(n)
          .where('export_blob_id', 'is not', null)
          .where('completed_at', '<', new Date(now.getTime() - c.EXPORT_RETENTION_DAYS * DAY_MS)),
      ),
    },
    {
      promise: 'RG6',
      deadline: `open rights requests escalated after ${c.RIGHTS_ESCALATE_AFTER_DAYS} days (due in ${c.RIGHTS_DEADLINE_DAYS})`,
      overdue: await count(
        ctx.db
          .selectFrom('rights_requests')
          .select(n)
          .where('status', 'in', ['open', 'in_progress'])
          .where('escalated_at', 'is', null)
          .where('received_at', '<', new Date(now.getTime() - c.RIGHTS_ESCALATE_AFTER_DAYS * DAY_MS)),
      ),
    },
    {
      promise: 'BR1',
      deadline: `breach notices sent within ${c.BREACH_NOTICE_HOURS} hours of detection`,
      overdue: await count(
        ctx.db
          .selectFrom('breach_notices')
          .innerJoin('breaches', 'breaches.id', 'breach_notices.breach_id')
          .select(n)
          .where('breach_notices.status', '=', 'pending')
          .where('breaches.notify_by', '<', now),
      ),
    },
    {
      promise: 'BR1',
      deadline: `privacy team alerted ${c.BREACH_ESCALATE_HOURS} hours after detection while notices are pending`,
      overdue: await count(
        ctx.db
          .selectFrom('breaches')
          .select(n)
          .where('escalated_at', 'is', null)
          .where('detected_at', '<', hours(c.BREACH_ESCALATE_HOURS))
          .where((eb) =>
            eb.exists(
              eb
                .selectFrom('breach_notices')
                .select('user_id')
                .whereRef('breach_notices.breach_id', '=', 'breaches.id')
                .where('breach_notices.status', '=', 'pending'),
            ),
          ),
      ),
    },
    {
      promise: 'CT1',
      deadline: `inquiries answered within ${c.INQUIRY_FIRST_RESPONSE_BUSINESS_HOURS} business hours, or escalated`,
      overdue: await count(
        ctx.db
          .selectFrom('inquiries')
          .select(n)
          .where('first_responded_at', 'is', null)
          .where('first_response_due', '<', now)
          .where('escalated_at', 'is', null),
      ),
    },
  ];
}

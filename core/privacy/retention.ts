import { sql, type Expression, type SqlBool } from 'kysely';
import type { AppContext } from '../platform/context';
import { DAY_MS } from '../platform/config';

/**
 * When each kind of personal data falls due (policy §7). Every period is a setting whose default
 * is the policy's number; the sweep and the compliance report use these same definitions.
 */
export function cutoffs(ctx: AppContext) {
  const now = ctx.clock.now().getTime();
  const c = ctx.config;
  const ago = (days: number) => new Date(now - days * DAY_MS);
  return {
    /** RT1: originals 30 days after initial processing (or after upload, if never processed). */
    originals: ago(c.RETENTION_ORIGINALS_DAYS),
    /** RT2: headshots 90 days after delivery (or after creation, if never delivered). */
    headshots: ago(c.RETENTION_HEADSHOTS_DAYS),
    /** RT3: personal information 1 year after the last use of the service. */
    personal: ago(c.RETENTION_PERSONAL_DATA_DAYS),
    /** RT3: the warning goes out this long before. */
    warning: ago(c.RETENTION_PERSONAL_DATA_DAYS - c.RETENTION_WARNING_DAYS),
    /** RT4, PY2: transaction records 7 years after the transaction. */
    transactions: ago(c.RETENTION_TRANSACTIONS_DAYS),
  };
}

export const photoDue = (cutoff: Date): Expression<SqlBool> =>
  sql<SqlBool>`coalesce(photos.processed_at, photos.uploaded_at) < ${cutoff}`;
export const headshotDue = (cutoff: Date): Expression<SqlBool> =>
  sql<SqlBool>`coalesce(headshots.delivered_at, headshots.created_at) < ${cutoff}`;

/** Photos, headshots, people and transaction records past their retention, counted. */
export async function overdueCounts(ctx: AppContext): Promise<Record<'RT1' | 'RT2' | 'RT3' | 'RT4', number>> {
  const cut = cutoffs(ctx);
  const n = (q: { executeTakeFirstOrThrow(): Promise<{ n: number | string | bigint }> }) =>
    q.executeTakeFirstOrThrow().then((r) => Number(r.n));
  return {
    RT1: await n(
      ctx.db
        .selectFrom('photos')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where(photoDue(cut.originals)),
    ),
    RT2: await n(
      ctx.db
        .selectFrom('headshots')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where(headshotDue(cut.headshots)),
    ),
    RT3: await n(
      ctx.db
        .selectFrom('users')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('last_used_at', '<', cut.personal)
        .where('role', '=', 'customer'),
    ),
    RT4: await n(
      ctx.db
        .selectFrom('payments')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('created_at', '<', cut.transactions),
    ),
  };
}

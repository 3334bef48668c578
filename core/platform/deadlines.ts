import type { Db } from './db';

/**
 * The nearest of each deadline a promise sets, read from Postgres where the deadlines live, for the
 * alerts that must fire before one passes: a breach notice (BR1, 72 h from detection), a deletion
 * request (RG3) and any rights request (RG6, 30 days), and the oldest paid order not yet delivered.
 * Each is one indexed look-up; null when nothing is pending.
 */
export interface Deadlines {
  BR1: Date | null;
  RG3: Date | null;
  RG6: Date | null;
  /** When the oldest order still being made was paid for (received or processing). */
  oldestOpenOrder: Date | null;
}

const asDate = (v: unknown) => (v == null ? null : new Date(v as string | Date));

export async function nearestDeadlines(db: Db): Promise<Deadlines> {
  const [breach, deletion, rights, order] = await Promise.all([
    db
      .selectFrom('breaches as b')
      .select((eb) => eb.fn.min('b.notify_by').as('at'))
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom('breach_notices as n')
            .select('n.breach_id')
            .whereRef('n.breach_id', '=', 'b.id')
            .where('n.status', '=', 'pending'),
        ),
      )
      .executeTakeFirst(),
    db
      .selectFrom('rights_requests')
      .select((eb) => eb.fn.min('due_at').as('at'))
      .where('status', 'in', ['open', 'in_progress'])
      .where('kind', '=', 'deletion')
      .executeTakeFirst(),
    db
      .selectFrom('rights_requests')
      .select((eb) => eb.fn.min('due_at').as('at'))
      .where('status', 'in', ['open', 'in_progress'])
      .executeTakeFirst(),
    db
      .selectFrom('orders')
      .select((eb) => eb.fn.min(eb.fn.coalesce('paid_at', 'created_at')).as('at'))
      .where('status', 'in', ['received', 'processing'])
      .executeTakeFirst(),
  ]);
  return {
    BR1: asDate(breach?.at),
    RG3: asDate(deletion?.at),
    RG6: asDate(rights?.at),
    oldestOpenOrder: asDate(order?.at),
  };
}

import type { AppContext } from '../core/platform/context';
import { jobId } from '../core/platform/jobs';
import { cutoffs, headshotDue, photoDue } from '../core/privacy/retention';

/**
 * The retention sweep (RT1-RT4, PY2): finds what is due in Postgres, batch by batch, and fans out
 * one small idempotent job per batch. Job ids are made from the batch's first and last id, so a
 * sweep that runs again before the jobs finish adds nothing twice; a batch that was lost is found
 * again by the next sweep because the rows are still there.
 */
export async function sweepRetention(ctx: AppContext): Promise<Record<string, number>> {
  const cut = cutoffs(ctx);
  const batch = ctx.config.RETENTION_BATCH;
  const found = { photos: 0, headshots: 0, warnings: 0, users: 0, payments: 0 };

  const fanOut = async <T extends { id: string }>(
    label: keyof typeof found,
    rows: T[],
    enqueue: (ids: string[], id: string) => Promise<void>,
  ) => {
    for (let i = 0; i < rows.length; i += batch) {
      const ids = rows.slice(i, i + batch).map((r) => r.id);
      await enqueue(ids, jobId('retention', label, ids[0], ids[ids.length - 1], String(ids.length)));
    }
    found[label] += rows.length;
  };

  // Keyset pages through everything due, so one sweep covers any backlog (a scheduler down for days).
  for (let after = ''; ; ) {
    const rows = await ctx.db
      .selectFrom('photos')
      .select('id')
      .where(photoDue(cut.originals))
      .where('id', '>', after)
      .orderBy('id')
      .limit(batch * 20)
      .execute();
    if (!rows.length) break;
    await fanOut('photos', rows, (photoIds, id) =>
      ctx.queues.enqueue('retention.delete-photos', { photoIds }, { jobId: id }),
    );
    after = rows[rows.length - 1].id;
  }
  for (let after = ''; ; ) {
    const rows = await ctx.db
      .selectFrom('headshots')
      .select('id')
      .where(headshotDue(cut.headshots))
      .where('id', '>', after)
      .orderBy('id')
      .limit(batch * 20)
      .execute();
    if (!rows.length) break;
    await fanOut('headshots', rows, (headshotIds, id) =>
      ctx.queues.enqueue('retention.delete-headshots', { headshotIds }, { jobId: id }),
    );
    after = rows[rows.length - 1].id;
  }
  for (let after = ''; ; ) {
    const rows = await ctx.db
      .selectFrom('payments')
      .select('id')
      .where('created_at', '<', cut.transactions)
      .where('id', '>', after)
      .orderBy('id')
      .limit(batch * 20)
      .execute();
    if (!rows.length) break;
    await fanOut('payments', rows, (paymentIds, id) =>
      ctx.queues.enqueue('retention.purge-payments', { paymentIds }, { jobId: id }),
    );
    after = rows[rows.length - 1].id;
  }

  // RT3: staff accounts are not swept; people are warned first, then deleted one job each.
  const dueUsers = await ctx.db
    .selectFrom('users')
    .select('id')
    .where('role', '=', 'customer')
    .where('status', '=', 'active')
    .where('last_used_at', '<', cut.personal)
    .limit(batch)
    .execute();
  for (const u of dueUsers)
    await ctx.queues.enqueue('retention.delete-user', { userId: u.id }, { jobId: jobId('retention-user', u.id) });
  found.users = dueUsers.length;
  const toWarn = await ctx.db
    .selectFrom('users')
    .select(['id', 'last_used_at'])
    .where('role', '=', 'customer')
    .where('status', '=', 'active')
    .where('last_used_at', '<', cut.warning)
    .where('last_used_at', '>=', cut.personal)
    .where((eb) =>
      eb.or([eb('retention_warned_at', 'is', null), eb('retention_warned_at', '<', eb.ref('last_used_at'))]),
    )
    .limit(batch)
    .execute();
  for (const u of toWarn)
    await ctx.queues.enqueue(
      'retention.warn-user',
      { userId: u.id },
      { jobId: jobId('retention-warn', u.id, String(new Date(u.last_used_at).getTime())) },
    );
  found.warnings = toWarn.length;
  return found;
}

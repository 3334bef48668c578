import { sql, type Expression, type SqlBool } from 'kysely';
import type { AppContext } from '../platform/context';
import { DAY_MS } from '../platform/config';
import { jobId } from '../platform/jobs';
import { appLink } from '../notifications/links';
import { sendEmailOnce } from '../notifications/email';
import { deleteHeadshots, deletePhotos, deleteUser, purgePayments } from './deletion';

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

/*
 * The per-batch jobs the sweep fans out. Each re-checks that its rows are still due at run time
 * (the clock may have been moved, a person may have signed in since), then deletes through deletion.ts.
 */

/** RT1: the originals of a batch that are still due, deleted. */
export async function deleteDuePhotos(ctx: AppContext, photoIds: string[]): Promise<void> {
  const due = await ctx.db
    .selectFrom('photos')
    .select('id')
    .where('id', 'in', photoIds)
    .where(photoDue(cutoffs(ctx).originals))
    .execute();
  await deletePhotos(
    ctx,
    due.map((p) => p.id),
    'retention:originals',
  );
}

/** RT2: the headshots of a batch that are still due, deleted. */
export async function deleteDueHeadshots(ctx: AppContext, headshotIds: string[]): Promise<void> {
  const due = await ctx.db
    .selectFrom('headshots')
    .select('id')
    .where('id', 'in', headshotIds)
    .where(headshotDue(cutoffs(ctx).headshots))
    .execute();
  await deleteHeadshots(
    ctx,
    due.map((h) => h.id),
    'retention:headshots',
  );
}

/** RT4, PY2: the transaction records of a batch that are still due, purged. */
export async function purgeDuePayments(ctx: AppContext, paymentIds: string[]): Promise<void> {
  const due = await ctx.db
    .selectFrom('payments')
    .select('id')
    .where('id', 'in', paymentIds)
    .where('created_at', '<', cutoffs(ctx).transactions)
    .execute();
  await purgePayments(
    ctx,
    due.map((p) => p.id),
    'retention:transactions',
  );
}

/** RT3: a person idle past the warning point hears when their account goes, once per idle spell. */
export async function warnBeforeDeletion(ctx: AppContext, userId: string): Promise<void> {
  const user = await ctx.db
    .selectFrom('users')
    .select(['id', 'last_used_at', 'status'])
    .where('id', '=', userId)
    .executeTakeFirst();
  if (!user || user.status !== 'active' || new Date(user.last_used_at) >= cutoffs(ctx).warning) return;
  const deleteOn = new Date(new Date(user.last_used_at).getTime() + ctx.config.RETENTION_PERSONAL_DATA_DAYS * DAY_MS);
  await sendEmailOnce(ctx, {
    userId,
    kind: 'retention-warning',
    dedupeKey: `retention-warning-${userId}-${new Date(user.last_used_at).getTime()}`,
    build: ({ name }) => ({
      subject: 'Your Rasmi account will be deleted unless you keep it',
      text: `Hello ${name},\n\nYou have not used Rasmi for a while. As our privacy policy says, we delete personal information one year after the last use of the service: your account and its data will be deleted on ${deleteOn.toISOString().slice(0, 10)}.\nTo keep your account, simply sign in before then: ${appLink(ctx, 'photos')}\n\nRasmi`,
    }),
  });
  await ctx.db.updateTable('users').set({ retention_warned_at: ctx.clock.now() }).where('id', '=', userId).execute();
}

/** RT3: a customer still idle past the retention period, deleted (staff accounts never are). */
export async function deleteIfIdle(ctx: AppContext, userId: string): Promise<void> {
  const user = await ctx.db
    .selectFrom('users')
    .select(['last_used_at', 'role'])
    .where('id', '=', userId)
    .executeTakeFirst();
  if (!user || user.role !== 'customer' || new Date(user.last_used_at) >= cutoffs(ctx).personal) return;
  await deleteUser(ctx, userId, 'retention:personal-data');
}

import { appLink } from '../notifications/links';
import { sql } from 'kysely';
import type { AppContext } from '../platform/context';
import { newId } from '../platform/crypto';
import type { Db } from '../platform/db';
import { fanOut, retryFailed } from '../platform/fanout';
import { jobId } from '../platform/jobs';
import { sendEmailOnce, sendTeamEmailOnce } from '../notifications/email';
import { sendWhatsAppOnce } from '../notifications/whatsapp';

/**
 * Breaches (BR1, policy §8): a recorded breach gets one notice row per affected person; the
 * scheduler fans out one job per pending notice, escalates to the privacy team before the
 * deadline passes, and each notice records when and on which channels it went out.
 */

export type Affected =
  | { user_ids: string[] }
  | { all_users: true }
  | { orders_created_between: { from: Date; to: Date } };

const HOUR_MS = 3600_000;

/** Ids among these that name no account, checked in batches. */
export async function unknownUserIds(ctx: AppContext, ids: string[]): Promise<string[]> {
  const batch = ctx.config.BREACH_NOTICE_BATCH;
  const unknown: string[] = [];
  for (let i = 0; i < ids.length; i += batch) {
    const chunk = ids.slice(i, i + batch);
    const found = new Set(
      (await ctx.db.selectFrom('users').select('id').where('id', 'in', chunk).execute()).map((r) => r.id),
    );
    unknown.push(...chunk.filter((id) => !found.has(id)));
  }
  return unknown;
}

/**
 * Inserts the notices with INSERT ... SELECT, one keyset page per statement, so a breach of every
 * account never loads the users into this process. One transaction: a breach never exists with
 * only some of its notices.
 */
async function insertNotices(trx: Db, breachId: string, affected: Affected, batch: number): Promise<number> {
  const b = sql<string>`${breachId}::text`;
  let total = 0;
  if ('user_ids' in affected) {
    const ids = [...new Set(affected.user_ids)];
    for (let i = 0; i < ids.length; i += batch) {
      const source = trx
        .selectFrom('users')
        .select([b.as('breach_id'), 'id as user_id'])
        .where('id', 'in', ids.slice(i, i + batch));
      const r = await trx
        .insertInto('breach_notices')
        .columns(['breach_id', 'user_id'])
        .expression(source)
        .onConflict((oc) => oc.doNothing())
        .executeTakeFirst();
      total += Number(r.numInsertedOrUpdatedRows ?? 0);
    }
    return total;
  }
  for (let after = ''; ; ) {
    const source =
      'all_users' in affected
        ? trx
            .selectFrom('users')
            .select([b.as('breach_id'), 'id as user_id'])
            .where('status', '<>', 'deleted')
            .where('id', '>', after)
            .orderBy('id')
            .limit(batch)
        : trx
            .selectFrom('orders')
            .select([b.as('breach_id'), 'user_id'])
            .distinct()
            .where('created_at', '>=', affected.orders_created_between.from)
            .where('created_at', '<=', affected.orders_created_between.to)
            .where('user_id', '>', after)
            .orderBy('user_id')
            .limit(batch);
    const rows = await trx
      .insertInto('breach_notices')
      .columns(['breach_id', 'user_id'])
      .expression(source)
      .returning('user_id')
      .execute();
    if (!rows.length) return total;
    total += rows.length;
    after = rows.reduce((m, r) => (r.user_id > m ? r.user_id : m), after);
  }
}

export async function recordBreach(
  ctx: AppContext,
  input: { description: string; detectedAt: Date; affected: Affected; recordedBy: string },
): Promise<{ id: string; affected: number }> {
  const id = newId('brc');
  const now = ctx.clock.now();
  const notifyBy = new Date(input.detectedAt.getTime() + ctx.config.BREACH_NOTICE_HOURS * HOUR_MS);
  const affected = await ctx.db.transaction().execute(async (trx) => {
    await trx
      .insertInto('breaches')
      .values({
        id,
        description: input.description,
        detected_at: input.detectedAt,
        notify_by: notifyBy,
        recorded_by: input.recordedBy,
        recorded_at: now,
      })
      .execute();
    return insertNotices(trx, id, input.affected, ctx.config.BREACH_NOTICE_BATCH);
  });
  ctx.logger.info({ breachId: id, affected }, 'breach recorded');
  return { id, affected };
}

export interface BreachProgress {
  affected: number;
  notified: number;
  pending: number;
  /** Accounts deleted before their notice could go out: nobody left to tell. */
  unreachable: number;
  /** Still pending past notify_by. */
  overdue: number;
  /** Notified, but after notify_by. */
  notified_late: number;
}

export async function breachProgress(
  ctx: AppContext,
  breach: { id: string; notify_by: Date },
): Promise<BreachProgress> {
  const now = ctx.clock.now();
  const late = new Date(breach.notify_by);
  const r = await ctx.db
    .selectFrom('breach_notices')
    .select([
      sql<number>`count(*)::int`.as('affected'),
      sql<number>`(count(*) filter (where status = 'notified'))::int`.as('notified'),
      sql<number>`(count(*) filter (where status = 'pending'))::int`.as('pending'),
      sql<number>`(count(*) filter (where status = 'unreachable'))::int`.as('unreachable'),
      sql<number>`(count(*) filter (where status = 'pending' and ${now}::timestamptz > ${late}::timestamptz))::int`.as(
        'overdue',
      ),
      sql<number>`(count(*) filter (where status = 'notified' and notified_at > ${late}::timestamptz))::int`.as(
        'notified_late',
      ),
    ])
    .where('breach_id', '=', breach.id)
    .executeTakeFirstOrThrow();
  return r;
}

/** The per-person job: email (and WhatsApp where the person opted in), then the notice is recorded. */
export async function notifyBreachNotice(ctx: AppContext, breachId: string, userId: string): Promise<void> {
  const notice = await ctx.db
    .selectFrom('breach_notices')
    .innerJoin('breaches', 'breaches.id', 'breach_notices.breach_id')
    .select(['breach_notices.status', 'breaches.description', 'breaches.detected_at'])
    .where('breach_notices.breach_id', '=', breachId)
    .where('breach_notices.user_id', '=', userId)
    .executeTakeFirst();
  if (!notice || notice.status !== 'pending') return;
  const exists = await ctx.db.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst();
  if (!exists) {
    await ctx.db
      .updateTable('breach_notices')
      .set({ status: 'unreachable' })
      .where('breach_id', '=', breachId)
      .where('user_id', '=', userId)
      .where('status', '=', 'pending')
      .execute();
    return;
  }
  const key = `breach-${breachId}-${userId}`;
  const detected = new Date(notice.detected_at).toISOString().slice(0, 16).replace('T', ' ');
  const contact = `Questions: reply to this email (it reaches our privacy team, ${ctx.config.PRIVACY_TEAM_EMAIL}). Your privacy centre, where you can download a copy of your data or delete your account: ${appLink(ctx, 'privacy')}`;
  await sendEmailOnce(ctx, {
    userId,
    kind: 'breach-notice',
    dedupeKey: key,
    build: ({ name }) => ({
      subject: 'Important: a security incident affecting your Rasmi data',
      text: `Hello ${name},\n\nOn ${detected} UTC we detected a security incident that affects personal information we hold about you.\n\nWhat happened:\n${notice.description}\n\nWe have contained the incident and are investigating it. We recommend that you stay alert to unexpected emails that mention Rasmi.\n\n${contact}\n\nReference: ${breachId}\n\nRasmi`,
    }),
  });
  await sendWhatsAppOnce(ctx, {
    userId,
    kind: 'breach-notice',
    dedupeKey: key,
    text: `Rasmi: a security incident detected on ${detected} UTC affects your data. We emailed you the details (reference ${breachId}).`,
  });
  // Channels from what was actually sent, so a retry after a half-finished attempt records both.
  const sent = await ctx.db
    .selectFrom('notifications')
    .select('channel')
    .where('dedupe_key', 'in', [key, `wa-${key}`])
    .where('status', '=', 'sent')
    .execute();
  await ctx.db
    .updateTable('breach_notices')
    .set({
      status: 'notified',
      channels: JSON.stringify(sent.map((s) => s.channel).sort()),
      notified_at: ctx.clock.now(),
    })
    .where('breach_id', '=', breachId)
    .where('user_id', '=', userId)
    .where('status', '=', 'pending')
    .execute();
}

/**
 * The sweep: for every breach with pending notices, alert the team once when BREACH_ESCALATE_HOURS
 * have passed since detection, then fan out a job per pending notice, page by page, so one run
 * after days of downtime covers the whole backlog. Failed jobs are put back first.
 */
export async function sweepBreachNotices(
  ctx: AppContext,
): Promise<{ breaches: number; fannedOut: number; escalated: number }> {
  const now = ctx.clock.now();
  const batch = ctx.config.BREACH_NOTICE_BATCH;
  const open = await ctx.db
    .selectFrom('breaches')
    .selectAll()
    .where('closed_at', 'is', null)
    .where((eb) =>
      eb.exists(
        eb
          .selectFrom('breach_notices')
          .select(sql`1`.as('one'))
          .whereRef('breach_notices.breach_id', '=', 'breaches.id')
          .where('breach_notices.status', '=', 'pending'),
      ),
    )
    .orderBy('notify_by')
    .execute();
  let fannedOut = 0;
  let escalated = 0;
  for (const b of open) {
    if (
      !b.escalated_at &&
      now.getTime() >= new Date(b.detected_at).getTime() + ctx.config.BREACH_ESCALATE_HOURS * HOUR_MS
    ) {
      const p = await breachProgress(ctx, b);
      await sendTeamEmailOnce(ctx, {
        kind: 'breach-escalation',
        dedupeKey: `breach-escalation-${b.id}`,
        subject: `Breach ${b.id}: ${p.pending} notice(s) still pending, deadline ${new Date(b.notify_by).toISOString()}`,
        text: `Breach ${b.id} was detected at ${new Date(b.detected_at).toISOString()}; every affected person must be notified by ${new Date(b.notify_by).toISOString()}.\n\nAffected: ${p.affected}\nNotified: ${p.notified}\nStill pending: ${p.pending}\n\nProgress: the staff API's getBreach (GET /v1/staff/breaches/${b.id}, with a staff token).\nFailed notice jobs are visible in the queue dashboard (privacy queue, breach.notify).`,
      });
      await ctx.db
        .updateTable('breaches')
        .set({ escalated_at: now })
        .where('id', '=', b.id)
        .where('escalated_at', 'is', null)
        .execute();
      escalated++;
    }
  }
  // After the escalation check, so a failed notice that this run re-drives still counts as late.
  await retryFailed(ctx, 'breach.notify');
  for (const b of open) {
    for (let after = ''; ; ) {
      const rows = await ctx.db
        .selectFrom('breach_notices')
        .select('user_id')
        .where('breach_id', '=', b.id)
        .where('status', '=', 'pending')
        .where('user_id', '>', after)
        .orderBy('user_id')
        .limit(batch)
        .execute();
      if (!rows.length) break;
      await fanOut(
        ctx,
        'breach.notify',
        rows.map((r) => ({ jobId: jobId('breach', b.id, r.user_id), data: { breachId: b.id, userId: r.user_id } })),
      );
      fannedOut += rows.length;
      after = rows[rows.length - 1].user_id;
    }
  }
  return { breaches: open.length, fannedOut, escalated };
}

/** A recorded breach with how its notices are going; undefined for an unknown id. */
export async function breachWithProgress(ctx: AppContext, id: string) {
  const breach = await ctx.db.selectFrom('breaches').selectAll().where('id', '=', id).executeTakeFirst();
  return breach && { breach, progress: await breachProgress(ctx, breach) };
}

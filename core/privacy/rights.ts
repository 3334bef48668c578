import { DAY_MS } from '../platform/config';
import type { AppContext } from '../platform/context';
import { newId } from '../platform/crypto';
import { inTransaction, type RightsKind, type RightsStatus } from '../platform/db';
import { jobId } from '../platform/jobs';
import { appLink } from '../notifications/links';
import { sendEmailOnce, sendTeamEmailOnce } from '../notifications/email';
import { deleteExports, deleteUser } from './deletion';
import { exportZip } from './export';

/**
 * Rights requests (policy §6): every request is a row with a status and a deadline in Postgres
 * (RG6); long work (exports, deletions) is a 'privacy' job with a fixed id, so a retry, a replayed
 * POST or the deadline sweep re-driving it never does the work twice.
 */

export async function createRightsRequest(
  ctx: AppContext,
  input: { userId: string; kind: RightsKind; status: RightsStatus; details?: unknown; result?: unknown },
) {
  const now = ctx.clock.now();
  return ctx.db
    .insertInto('rights_requests')
    .values({
      id: newId('rrq'),
      user_id: input.userId,
      kind: input.kind,
      status: input.status,
      details: input.details === undefined ? null : JSON.stringify(input.details),
      result: input.result === undefined ? null : JSON.stringify(input.result),
      received_at: now,
      due_at: new Date(now.getTime() + ctx.config.RIGHTS_DEADLINE_DAYS * DAY_MS),
      completed_at: input.status === 'completed' ? now : null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** An access or deletion request still open this long has lost its job: it is enqueued again. */
export const RIGHTS_STUCK_AFTER_MINUTES = 15;
const BATCH = 500;

const JOB_FOR = { access: 'rights.export', deletion: 'rights.delete' } as const;

/**
 * Enqueues the job that carries out an access or deletion request. The id is fixed per request; a
 * job that already failed all its attempts is retried instead (a new add would be ignored).
 */
export async function driveRightsRequest(ctx: AppContext, request: { id: string; kind: RightsKind }): Promise<void> {
  if (request.kind !== 'access' && request.kind !== 'deletion') return;
  const name = JOB_FOR[request.kind];
  const id = jobId(name.replace('.', '-'), request.id);
  const existing = await ctx.queues.byName.privacy.getJob(id);
  if (existing && (await existing.isFailed())) {
    await existing.retry('failed');
    return;
  }
  await ctx.queues.enqueue(name, { requestId: request.id }, { jobId: id });
}

/** What survives a deletion, named in the answer to the request and in the receipt (RG3). */
export async function retainedOnDeletion(ctx: AppContext, userId: string): Promise<string[]> {
  const payments = await ctx.db.selectFrom('payments').select('id').where('user_id', '=', userId).limit(1).execute();
  const years = Math.round(ctx.config.RETENTION_TRANSACTIONS_DAYS / 365);
  return [
    ...(payments.length
      ? [
          `transaction records (amount, currency, date, processor reference), pseudonymised and kept for accounting for ${years} years`,
        ]
      : []),
    'this deletion request and a deletion record (ids, counts and times, no personal data), kept as proof the request was handled',
  ];
}

/** Blocks the account at once: no sign-in, every session revoked; the job then deletes it (RG3). */
export async function blockForDeletion(ctx: AppContext, userId: string): Promise<void> {
  const now = ctx.clock.now();
  await inTransaction(ctx.db, async (trx) => {
    await trx
      .updateTable('users')
      .set({ status: 'deleting', deletion_requested_at: now })
      .where('id', '=', userId)
      .execute();
    await trx
      .updateTable('sessions')
      .set({ revoked_at: now })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .execute();
  });
}

const requestById = (ctx: AppContext, requestId: string) =>
  ctx.db.selectFrom('rights_requests').selectAll().where('id', '=', requestId).executeTakeFirst();

/** open -> in_progress, once: a retry or a second job finds it in progress already. */
async function markInProgress(ctx: AppContext, requestId: string): Promise<void> {
  await ctx.db
    .updateTable('rights_requests')
    .set({ status: 'in_progress' })
    .where('id', '=', requestId)
    .where('status', '=', 'open')
    .execute();
}

/**
 * Carries out an access request (RG1): the archive stored, the request completed, its owner told.
 * Idempotent: a retry finds the request's state in Postgres and carries on from there; the email
 * goes through a dedupe key.
 */
export async function carryOutAccessRequest(ctx: AppContext, requestId: string): Promise<void> {
  let req = await requestById(ctx, requestId);
  if (!req || req.kind !== 'access' || !req.user_id || req.status === 'rejected') return;
  const userId = req.user_id;
  if (req.status === 'open' || req.status === 'in_progress') {
    await markInProgress(ctx, requestId);
    const now = ctx.clock.now();
    const { zip, files: entries } = exportZip(ctx, userId);
    const [stored, files] = await Promise.allSettled([
      ctx.storage.putStream(ctx.db, {
        userId,
        role: 'headshots',
        contentType: 'application/zip',
        source: zip,
        at: now,
      }),
      entries,
    ]);
    if (files.status === 'rejected') {
      if (stored.status === 'fulfilled') await ctx.storage.remove(ctx.db, stored.value);
      throw files.reason;
    }
    if (stored.status === 'rejected') throw stored.reason;
    const blob = stored.value;
    const expiresAt = new Date(now.getTime() + ctx.config.EXPORT_RETENTION_DAYS * DAY_MS);
    const done = await ctx.db
      .updateTable('rights_requests')
      .set({
        status: 'completed',
        completed_at: now,
        export_blob_id: blob.id,
        result: JSON.stringify({
          files: files.value,
          size_bytes: Number(blob.size_bytes),
          expires_at: expiresAt.toISOString(),
        }),
      })
      .where('id', '=', requestId)
      .where('status', 'in', ['open', 'in_progress'])
      .executeTakeFirst();
    // Another attempt finished first: keep its archive, drop ours.
    if (!Number(done.numUpdatedRows)) await ctx.storage.remove(ctx.db, blob);
    req = await ctx.db.selectFrom('rights_requests').selectAll().where('id', '=', requestId).executeTakeFirstOrThrow();
  }
  if (req.status !== 'completed' || !req.export_blob_id) return; // expired already: nothing to announce
  await sendEmailOnce(ctx, {
    userId,
    kind: 'rights-export-ready',
    dedupeKey: `rights-export-ready-${requestId}`,
    build: ({ name }) => ({
      subject: 'Your Rasmi data export is ready',
      text:
        `Hello ${name},\n\nThe copy of your personal data you asked for is ready: one ZIP with data.json and your photos and headshots.\n` +
        `Download it from your privacy centre (sign-in needed): ${appLink(ctx, 'privacy', { export: requestId })}\n\n` +
        `It is deleted after ${ctx.config.EXPORT_RETENTION_DAYS} days; you can ask for a new one at any time.\n\nRasmi`,
    }),
  });
}

/**
 * Carries out a deletion request (RG3): the receipt sent, the account deleted, the request
 * completed with what was removed and what is retained. Idempotent, as above.
 */
export async function carryOutDeletionRequest(ctx: AppContext, requestId: string): Promise<void> {
  const req = await requestById(ctx, requestId);
  if (!req || req.kind !== 'deletion' || req.status === 'completed' || req.status === 'rejected') return;
  const prior = (req.result ?? {}) as { retained?: string[] };
  const retained = prior.retained ?? [];
  let removed: Record<string, number | string> | undefined;
  // user_id is null once deleteUser committed (it unlinks the request): only the bookkeeping is left.
  if (req.user_id) {
    const userId = req.user_id;
    await markInProgress(ctx, requestId);
    // The receipt goes first: sending needs the user row, which deleteUser removes.
    await sendEmailOnce(ctx, {
      userId,
      kind: 'rights-deletion-receipt',
      dedupeKey: `rights-deletion-receipt-${requestId}`,
      build: ({ name }) => ({
        subject: 'Your Rasmi account is being deleted',
        text:
          `Hello ${name},\n\nAs you asked, your account, personal data and photos are being deleted now; this is your receipt (request ${requestId}).\n` +
          `This address is removed with them, so this is the last email you will get from us.\n\n` +
          `Kept for legal or accounting purposes:\n${retained.map((r) => `- ${r}`).join('\n')}\n\nRasmi`,
      }),
    });
    removed = (await deleteUser(ctx, userId, 'rights-request')).details;
  }
  await ctx.db
    .updateTable('rights_requests')
    .set({
      status: 'completed',
      completed_at: ctx.clock.now(),
      result: JSON.stringify({ ...prior, retained, ...(removed ? { removed } : {}) }),
    })
    .where('id', '=', requestId)
    .where('status', '!=', 'completed')
    .execute();
}

/**
 * The deadline sweep (RG6): the team is told of each request nearing its deadline, once (the flag
 * is set after the mail, whose dedupe key makes a retry harmless); an access or deletion request
 * still open after RIGHTS_STUCK_AFTER_MINUTES has lost its job and is driven again.
 */
export async function sweepRightsDeadlines(ctx: AppContext): Promise<{ escalated: number; redriven: number }> {
  const now = ctx.clock.now();
  const escalateBefore = new Date(now.getTime() - ctx.config.RIGHTS_ESCALATE_AFTER_DAYS * DAY_MS);
  const nearing = await ctx.db
    .selectFrom('rights_requests')
    .select(['id', 'kind', 'status', 'received_at', 'due_at'])
    .where('status', 'in', ['open', 'in_progress'])
    .where('escalated_at', 'is', null)
    .where('received_at', '<=', escalateBefore)
    .orderBy('due_at')
    .limit(BATCH)
    .execute();
  for (const r of nearing) {
    const due = new Date(r.due_at);
    const daysLeft = Math.max(0, Math.ceil((due.getTime() - now.getTime()) / DAY_MS));
    // The team is no user: the mail goes to PRIVACY_TEAM_EMAIL, deduplicated per request.
    await sendTeamEmailOnce(ctx, {
      kind: 'rights-escalation',
      dedupeKey: `rights-escalation-${r.id}`,
      subject: `Rights request ${r.id} (${r.kind}) is due in ${daysLeft} day(s)`,
      text:
        `The ${r.kind} request ${r.id} received ${new Date(r.received_at).toISOString()} is still ${r.status}.\n` +
        `It must be answered by ${due.toISOString()} (${ctx.config.RIGHTS_DEADLINE_DAYS} days from receipt).\n`,
    });
    await ctx.db
      .updateTable('rights_requests')
      .set({ escalated_at: now })
      .where('id', '=', r.id)
      .where('escalated_at', 'is', null)
      .execute();
  }

  const stuckBefore = new Date(now.getTime() - RIGHTS_STUCK_AFTER_MINUTES * 60_000);
  const stuck = await ctx.db
    .selectFrom('rights_requests')
    .select(['id', 'kind'])
    .where('status', 'in', ['open', 'in_progress'])
    .where('kind', 'in', ['access', 'deletion'])
    .where('received_at', '<=', stuckBefore)
    .orderBy('received_at')
    .limit(BATCH)
    .execute();
  for (const r of stuck) await driveRightsRequest(ctx, r);
  return { escalated: nearing.length, redriven: stuck.length };
}

/** RG1: archives kept EXPORT_RETENTION_DAYS after completion, then deleted; returns how many. */
export async function deleteExpiredExports(ctx: AppContext): Promise<number> {
  const expiredBefore = new Date(ctx.clock.now().getTime() - ctx.config.EXPORT_RETENTION_DAYS * DAY_MS);
  const expired = await ctx.db
    .selectFrom('rights_requests')
    .select('id')
    .where('export_blob_id', 'is not', null)
    .where('completed_at', '<=', expiredBefore)
    .orderBy('completed_at')
    .limit(BATCH)
    .execute();
  return deleteExports(
    ctx,
    expired.map((r) => r.id),
    'export-expired',
  );
}

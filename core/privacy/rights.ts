import { DAY_MS } from '../platform/config';
import type { AppContext } from '../platform/context';
import { newId } from '../platform/crypto';
import { inTransaction, type RightsKind, type RightsStatus } from '../platform/db';
import { jobId } from '../platform/jobs';

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

import type { AppContext } from './context';
import { DomainError } from './errors';

/** An answer kept for a key: what the first request with it got. */
export interface Answer {
  status: number;
  body: unknown;
}

/** A request's identity for its key: who sent it, the key, the operation and the hash of its body. */
export interface KeyedRequest {
  userId: string;
  key?: string;
  route: string;
  hash: string;
}

/**
 * Does `work` once per key and keeps its answer: a retry with the same key and body gets the kept
 * answer back (replayed), the same key with another request is a 422. The work runs in one
 * transaction with the kept answer (`work` gets a context whose db is that transaction), so a
 * failure part-way, the database gone included, leaves neither and a retry does the work once; a
 * second request with the same key waits on the key's row, then gets the answer. Without a key the
 * work simply runs in a transaction.
 */
export async function once(
  ctx: AppContext,
  req: KeyedRequest,
  work: (tx: AppContext) => Promise<Answer>,
): Promise<{ answer: Answer; replayed: boolean }> {
  const { userId, key, route, hash } = req;
  const done = await ctx.db.transaction().execute(async (trx) => {
    if (key) {
      // Claims the key first: a concurrent request with it blocks here until this one commits.
      const claimed = await trx
        .insertInto('idempotency_keys')
        .values({
          user_id: userId,
          key,
          route,
          request_hash: hash,
          status: 0,
          body: 'null',
          created_at: ctx.clock.now(),
        })
        .onConflict((oc) => oc.columns(['user_id', 'key']).doNothing())
        .returning('key')
        .executeTakeFirst();
      if (!claimed) return undefined;
    }
    const out = await work({ ...ctx, db: trx });
    if (key)
      await trx
        .updateTable('idempotency_keys')
        .set({ status: out.status, body: JSON.stringify(out.body) })
        .where('user_id', '=', userId)
        .where('key', '=', key)
        .execute();
    return out;
  });
  if (done) return { answer: done, replayed: false };
  const prior = await ctx.db
    .selectFrom('idempotency_keys')
    .selectAll()
    .where('user_id', '=', userId)
    .where('key', '=', key!)
    .executeTakeFirst();
  // Gone since the claim (the account's deletion removes its keys): the request is as good as new.
  if (!prior) return once(ctx, req, work);
  if (prior.request_hash !== hash || prior.route !== route) {
    throw new DomainError(
      422,
      'idempotency_key_reused',
      'Idempotency-Key reused',
      'This key was used for a different request.',
    );
  }
  return { answer: { status: prior.status, body: prior.body }, replayed: true };
}

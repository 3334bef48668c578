import type { Request, Response } from 'express';
import type { AppContext } from '../core/platform/context';
import { sha256Hex } from '../core/platform/crypto';
import { z } from './openapi';
import { HttpError } from './problem';

export const IdempotencyKey = z.string().regex(/^[A-Za-z0-9_-]{8,128}$/).openapi({ description: 'Makes a retry safe: the first answer is replayed for the same key and body (8 to 128 letters, digits, "-" or "_")' });

/** The request's Idempotency-Key, if sent; a malformed one is refused before it reaches a query. */
export function idempotencyKeyOf(req: Request): string | undefined {
  const key = req.header('idempotency-key');
  if (key !== undefined && !IdempotencyKey.safeParse(key).success) {
    throw new HttpError(400, 'invalid_idempotency_key', 'Invalid Idempotency-Key', 'Use 8 to 128 letters, digits, "-" or "_".');
  }
  return key;
}

/**
 * Honours Idempotency-Key on a creating POST: the first answer is stored and a retry with the same
 * key and body gets it back instead of doing the work twice; the same key with another body is a 422.
 * The work runs in one transaction with the stored answer (`work` gets a context whose db is that
 * transaction), so a failure part-way, the database gone included, leaves neither and a retry does
 * the work once; a second request with the same key waits on the key's row, then gets the answer.
 * Side effects outside Postgres (queueing a job) go in `afterCommit`: it runs once the answer is
 * committed and before it is sent, on a replay too, so a failure there answers an error (a 503)
 * and a retry with the key completes it; it must therefore be idempotent itself (a fixed job id).
 */
export async function idempotent(
  ctx: AppContext,
  req: Request,
  res: Response,
  userId: string,
  work: (tx: AppContext) => Promise<{ status: number; body: unknown }>,
  afterCommit?: (answer: { status: number; body: unknown }) => Promise<void>,
): Promise<{ status: number; body: unknown }> {
  const key = idempotencyKeyOf(req);
  const routeId = `${req.method} ${req.baseUrl}${req.route?.path ?? req.path}`;
  const hash = sha256Hex(JSON.stringify(req.body ?? null));
  const done = await ctx.db.transaction().execute(async (trx) => {
    if (key) {
      // Claims the key first: a concurrent request with it blocks here until this one commits.
      const claimed = await trx
        .insertInto('idempotency_keys')
        .values({ user_id: userId, key, route: routeId, request_hash: hash, status: 0, body: 'null', created_at: ctx.clock.now() })
        .onConflict((oc) => oc.columns(['user_id', 'key']).doNothing())
        .returning('key')
        .executeTakeFirst();
      if (!claimed) return undefined;
    }
    const out = await work({ ...ctx, db: trx });
    if (key) await trx.updateTable('idempotency_keys').set({ status: out.status, body: JSON.stringify(out.body) }).where('user_id', '=', userId).where('key', '=', key).execute();
    return out;
  });
  if (done) {
    await afterCommit?.(done);
    res.status(done.status).json(done.body);
    return done;
  }
  const prior = await ctx.db.selectFrom('idempotency_keys').selectAll().where('user_id', '=', userId).where('key', '=', key!).executeTakeFirst();
  // Gone since the claim (the account's deletion removes its keys): the request is as good as new.
  if (!prior) return idempotent(ctx, req, res, userId, work, afterCommit);
  if (prior.request_hash !== hash || prior.route !== routeId) {
    throw new HttpError(422, 'idempotency_key_reused', 'Idempotency-Key reused', 'This key was used for a different request.');
  }
  const replay = { status: prior.status, body: prior.body };
  await afterCommit?.(replay);
  res.status(prior.status).setHeader('Idempotent-Replayed', 'true').json(prior.body);
  return replay;
}

import type { Request, Response } from 'express';
import type { AppContext } from '../core/context';
import { sha256Hex } from '../core/crypto';
import { HttpError } from './problem';

/**
 * Honours Idempotency-Key on a creating POST: the first answer is stored and a retry with the same
 * key and body gets it back instead of doing the work twice; the same key with another body is a 422.
 */
export async function idempotent(
  ctx: AppContext,
  req: Request,
  res: Response,
  userId: string,
  work: () => Promise<{ status: number; body: unknown }>,
): Promise<void> {
  const key = req.header('idempotency-key');
  if (key !== undefined && !/^[A-Za-z0-9_-]{8,128}$/.test(key)) {
    throw new HttpError(400, 'invalid_idempotency_key', 'Invalid Idempotency-Key', 'Use 8 to 128 letters, digits, "-" or "_".');
  }
  if (!key) {
    const out = await work();
    res.status(out.status).json(out.body);
    return;
  }
  const routeId = `${req.method} ${req.baseUrl}${req.route?.path ?? req.path}`;
  const hash = sha256Hex(JSON.stringify(req.body ?? null));
  const prior = await ctx.db.selectFrom('idempotency_keys').selectAll().where('user_id', '=', userId).where('key', '=', key).executeTakeFirst();
  if (prior) {
    if (prior.request_hash !== hash || prior.route !== routeId) {
      throw new HttpError(422, 'idempotency_key_reused', 'Idempotency-Key reused', 'This key was used for a different request.');
    }
    res.status(prior.status).setHeader('Idempotent-Replayed', 'true').json(prior.body);
    return;
  }
  const out = await work();
  await ctx.db
    .insertInto('idempotency_keys')
    .values({ user_id: userId, key, route: routeId, request_hash: hash, status: out.status, body: JSON.stringify(out.body), created_at: ctx.clock.now() })
    .onConflict((oc) => oc.columns(['user_id', 'key']).doNothing())
    .execute();
  res.status(out.status).json(out.body);
}

import type { Request, Response } from 'express';
import type { AppContext } from '../core/platform/context';
import { sha256Hex } from '../core/platform/crypto';
import { once, type Answer } from '../core/platform/idempotency';
import { z } from './openapi';
import { HttpError } from './problem';

export const IdempotencyKey = z
  .string()
  .regex(/^[A-Za-z0-9_-]{8,128}$/)
  .openapi({
    description:
      'Makes a retry safe: the first answer is replayed for the same key and body (8 to 128 letters, digits, "-" or "_")',
  });

/** The request's Idempotency-Key, if sent; a malformed one is refused before it reaches a query. */
export function idempotencyKeyOf(req: Request): string | undefined {
  const key = req.header('idempotency-key');
  if (key !== undefined && !IdempotencyKey.safeParse(key).success) {
    throw new HttpError(
      400,
      'invalid_idempotency_key',
      'Invalid Idempotency-Key',
      'Use 8 to 128 letters, digits, "-" or "_".',
    );
  }
  return key;
}

/**
 * Honours Idempotency-Key on a creating POST (core/platform/idempotency.ts keeps the answers):
 * the first answer is stored and a retry with the same key and body gets it back instead of doing
 * the work twice. Side effects outside Postgres (queueing a job) go in `afterCommit`: it runs once
 * the answer is committed and before it is sent, on a replay too, so a failure there answers an
 * error (a 503) and a retry with the key completes it; it must therefore be idempotent itself (a
 * fixed job id).
 */
export async function idempotent(
  ctx: AppContext,
  req: Request,
  res: Response,
  userId: string,
  work: (tx: AppContext) => Promise<Answer>,
  afterCommit?: (answer: Answer) => Promise<void>,
): Promise<Answer> {
  const key = idempotencyKeyOf(req);
  const route = `${req.method} ${req.baseUrl}${req.route?.path ?? req.path}`;
  const { answer, replayed } = await once(
    ctx,
    { userId, key, route, hash: sha256Hex(JSON.stringify(req.body ?? null)) },
    work,
  );
  await afterCommit?.(answer);
  if (replayed) res.setHeader('Idempotent-Replayed', 'true');
  res.status(answer.status).json(answer.body);
  return answer;
}

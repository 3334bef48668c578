import cors from 'cors';
import type { RequestHandler } from 'express';

/** Response headers a browser client needs to read: abuse limits, request ids, idempotent replays. */
const EXPOSED = [
  'RateLimit-Limit',
  'RateLimit-Remaining',
  'RateLimit-Reset',
  'Retry-After',
  'X-Request-Id',
  'Idempotent-Replayed',
];

/**
 * CORS allow-list from CORS_ORIGINS. Only listed origins get Access-Control-Allow-Origin (echoed
 * exactly, with Vary: Origin); no credentials, since clients send a bearer token, not cookies.
 * An empty list mounts nothing: browsers then allow no cross-origin reads at all.
 */
export function corsAllowList(origins: readonly string[]): RequestHandler {
  if (!origins.length) return (_req, _res, next) => next();
  return cors({
    origin: [...origins],
    credentials: false,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id'],
    exposedHeaders: EXPOSED,
    maxAge: 600,
  });
}

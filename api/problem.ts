import type { NextFunction, Request, Response } from 'express';
import { DomainError as HttpError } from '../core/platform/errors';
import { z } from './openapi';

/**
 * Errors as application/problem+json (RFC 9457) with a stable machine-readable code that clients
 * switch on. Messages are plain sentences and never echo personal data. HttpError is the API's
 * name for core's DomainError: a use case and a route throw the same class.
 */
export { DomainError as HttpError, notFound } from '../core/platform/errors';

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    code: z.string().describe('Stable machine-readable error code'),
    instance: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi('Problem');

export function sendProblem(res: Response, err: HttpError): void {
  if (res.headersSent) return;
  res
    .status(err.status)
    .type('application/problem+json')
    .json({
      type: `https://docs.rasmi.com/errors/${err.code}`,
      title: err.title,
      status: err.status,
      detail: err.detail,
      code: err.code,
      instance: res.req.originalUrl.split('?')[0],
      ...err.extra,
    });
}

const PG_DOWN = /^(57P0[1-3]|08\d\d\d)$/; // admin shutdown, crash shutdown, cannot connect now, connection exceptions
const NET_DOWN = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'ECONNABORTED',
]);

/**
 * A dependency that is down is the service's temporary state, not a bug: 503 with Retry-After and a
 * code naming what is down, so clients retry instead of reporting a 500 (issue 5, faults).
 */
export function dependencyDown(err: unknown, s3Endpoint?: string): HttpError | undefined {
  const e = err as
    | { code?: string; port?: number; message?: string; cause?: unknown; errors?: unknown[]; dependency?: string }
    | undefined;
  if (!e || typeof e !== 'object') return undefined;
  const db = () =>
    new HttpError(
      503,
      'database_unavailable',
      'Database unavailable',
      'The database is unreachable for a moment; retry shortly.',
    );
  const storage = () =>
    new HttpError(
      503,
      'storage_unavailable',
      'Storage unavailable',
      'The object store is unreachable for a moment; nothing was kept; retry shortly.',
    );
  if (typeof e.code === 'string' && PG_DOWN.test(e.code)) return db();
  if (
    /Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect|not currently accepting connections|the database system is (shutting down|starting up)/i.test(
      e.message ?? '',
    )
  )
    return db();
  const code = e.code ?? (e.errors?.[0] as { code?: string } | undefined)?.code;
  if (code && NET_DOWN.has(code)) {
    const port = e.port ?? (e.errors?.[0] as { port?: number } | undefined)?.port;
    const s3Port = s3Endpoint ? Number(new URL(s3Endpoint).port || 80) : undefined;
    // Object-store calls mark their failures (core/platform/storage.ts fromStorage); a socket error that
    // is not marked is the database's (pg's read errors carry no port).
    return e.dependency === 'storage' || (port !== undefined && port === s3Port) ? storage() : db();
  }
  return e.cause ? dependencyDown(e.cause, s3Endpoint) : undefined;
}

export function errorHandler(err: unknown, req: Request, res: Response, _next: NextFunction): void {
  if (err instanceof HttpError) return sendProblem(res, err);
  const down = dependencyDown(
    err,
    (req.app.locals.ctx as { config?: { S3_ENDPOINT?: string } } | undefined)?.config?.S3_ENDPOINT,
  );
  if (down) {
    req.log?.warn({ err, code: down.code }, 'dependency unavailable');
    if (!res.headersSent) res.setHeader('Retry-After', '5');
    return sendProblem(res, new HttpError(down.status, down.code, down.title, down.detail));
  }
  const e = err as { type?: string; status?: number; statusCode?: number };
  // The router decodes path parameters before any route runs: a broken %-escape is the client's.
  if (err instanceof URIError && e.status === 400) {
    return sendProblem(
      res,
      new HttpError(400, 'validation_failed', 'The request is not valid', 'Invalid params.', {
        errors: [{ path: 'params', message: 'Not valid percent-encoded UTF-8' }],
      }),
    );
  }
  // body-parser's own errors: malformed JSON, body too large.
  if (e?.type === 'entity.parse.failed')
    return sendProblem(
      res,
      new HttpError(400, 'malformed_json', 'Malformed JSON', 'The request body is not valid JSON.'),
    );
  if (e?.type === 'entity.too.large')
    return sendProblem(res, new HttpError(413, 'body_too_large', 'Request body too large'));
  if (e?.type === 'charset.unsupported' || e?.type === 'encoding.unsupported')
    return sendProblem(
      res,
      new HttpError(
        415,
        'unsupported_media_type',
        'Unsupported body encoding',
        'Send the body as UTF-8 JSON, uncompressed.',
      ),
    );
  if (e?.status && e.status >= 400 && e.status < 500)
    return sendProblem(res, new HttpError(e.status, 'bad_request', 'Bad request'));
  req.log?.error({ err }, 'unhandled error');
  sendProblem(
    res,
    new HttpError(
      500,
      'internal_error',
      'Internal server error',
      'Something went wrong on our side; the request can be retried.',
    ),
  );
}

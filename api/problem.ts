import type { NextFunction, Request, Response } from 'express';
import { z } from './openapi';

/**
 * Errors as application/problem+json (RFC 9457) with a stable machine-readable code that clients
 * switch on. Messages are plain sentences and never echo personal data.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail?: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail ?? title);
  }
}

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

export const notFound = (what: string) => new HttpError(404, 'not_found', `${what} not found`, `No ${what.toLowerCase()} with that id belongs to you.`);

export function errorHandler(err: unknown, req: Request, res: Response, _next: NextFunction): void {
  if (err instanceof HttpError) return sendProblem(res, err);
  const e = err as { type?: string; status?: number; statusCode?: number };
  // body-parser's own errors: malformed JSON, body too large.
  if (e?.type === 'entity.parse.failed') return sendProblem(res, new HttpError(400, 'malformed_json', 'Malformed JSON', 'The request body is not valid JSON.'));
  if (e?.type === 'entity.too.large') return sendProblem(res, new HttpError(413, 'body_too_large', 'Request body too large'));
  if (e?.status && e.status >= 400 && e.status < 500) return sendProblem(res, new HttpError(e.status, 'bad_request', 'Bad request'));
  req.log?.error({ err }, 'unhandled error');
  sendProblem(res, new HttpError(500, 'internal_error', 'Internal server error', 'Something went wrong on our side; the request can be retried.'));
}

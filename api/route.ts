import type { NextFunction, Request, RequestHandler, Response, Router } from 'express';
import type { ZodType } from 'zod';
import type { User } from '../core/db';
import { authenticate, authenticateIfSent, requireRole, type StaffRole } from './auth';
import { registry, z } from './openapi';
import { rateLimit, type RateLimitName } from './rate-limit';
import { HttpError, ProblemSchema } from './problem';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface RouteSpec<B extends ZodType | undefined, Q extends ZodType | undefined, P extends ZodType | undefined> {
  method: Method;
  /** Express syntax (/v1/orders/:id); written as {id} in the OpenAPI document. */
  path: string;
  summary: string;
  /** Longer prose for the document, where the summary cannot say enough. */
  description?: string;
  tags: string[];
  /** 'user' needs a bearer token; 'optional' takes one (a token sent must be valid); a staff role needs that role (or admin). */
  auth: 'none' | 'optional' | 'user' | StaffRole;
  body?: B;
  query?: Q;
  params?: P;
  /** Abuse limit (SC4), checked after authentication and before validation; documents the 429. */
  rateLimit?: RateLimitName;
  /** For documentation of non-JSON bodies (multipart uploads). */
  requestBody?: Record<string, unknown>;
  responses: Record<number, { description: string; schema?: ZodType; contentType?: string }>;
  /** Error codes this route can answer with, for the document. */
  errors?: Record<number, string>;
}

/** Who passes requireRole for each staff role, as the OpenAPI document tells front-end developers. */
const STAFF_NEEDS: Record<StaffRole, string> = { support: 'any staff role (support, privacy_officer or admin)', privacy_officer: 'the privacy_officer or admin role', admin: 'the admin role' };

type Infer<T> = T extends ZodType ? z.infer<T> : undefined;

export interface Input<B, Q, P> {
  body: B;
  query: Q;
  params: P;
  user: User;
}

function validationError(where: string, issues: z.core.$ZodIssue[]): HttpError {
  return new HttpError(400, 'validation_failed', 'The request is not valid', `Invalid ${where}.`, {
    errors: issues.map((i) => ({ path: [where, ...i.path.map(String)].join('.'), message: i.message })),
  });
}

/** Every route added with route(), by "METHOD /path": what tests sweep (every JSON body, every staff route) instead of keeping lists. */
export const routeTable = new Map<string, { method: Method; path: string; auth: RouteSpec<undefined, undefined, undefined>['auth']; body?: ZodType }>();

/**
 * One way to add a route: its zod schemas validate the request and document it in /openapi.json.
 * Handlers are async and throw HttpError for a client mistake.
 */
export function route<B extends ZodType | undefined = undefined, Q extends ZodType | undefined = undefined, P extends ZodType | undefined = undefined>(
  router: Router,
  spec: RouteSpec<B, Q, P>,
  handler: (req: Request, res: Response, input: Input<Infer<B>, Infer<Q>, Infer<P>>) => Promise<void>,
): void {
  routeTable.set(`${spec.method.toUpperCase()} ${spec.path}`, { method: spec.method, path: spec.path, auth: spec.auth, body: spec.body });
  const responses: Record<string, unknown> = {};
  for (const [status, r] of Object.entries(spec.responses)) {
    responses[status] = {
      description: r.description,
      ...(r.schema ? { content: { [r.contentType ?? 'application/json']: { schema: r.schema } } } : r.contentType ? { content: { [r.contentType]: { schema: { type: 'string', format: 'binary' } } } } : {}),
    };
  }
  const staff = spec.auth !== 'none' && spec.auth !== 'optional' && spec.auth !== 'user' ? spec.auth : undefined;
  const errors = { ...(spec.body || spec.query || spec.params ? { 400: 'validation_failed' } : {}), ...(spec.auth !== 'none' ? { 401: 'unauthorized' } : {}), ...(staff ? { 403: 'forbidden' } : {}), ...(spec.rateLimit ? { 429: 'rate_limited' } : {}), ...spec.errors };
  for (const [status, codes] of Object.entries(errors)) {
    responses[status] ??= { description: `Error: ${codes}`, content: { 'application/problem+json': { schema: ProblemSchema } } };
  }
  registry.registerPath({
    method: spec.method,
    path: spec.path.replace(/:(\w+)/g, '{$1}'),
    summary: spec.summary,
    ...(staff ? { description: `Staff only: ${STAFF_NEEDS[staff]}; 403 forbidden otherwise.` } : spec.description ? { description: spec.description } : {}),
    tags: spec.tags,
    security: spec.auth === 'none' ? [] : spec.auth === 'optional' ? [{ bearer: [] }, {}] : [{ bearer: [] }],
    request: {
      ...(spec.params ? { params: spec.params as never } : {}),
      ...(spec.query ? { query: spec.query as never } : {}),
      ...(spec.body ? { body: { content: { 'application/json': { schema: spec.body } } } } : spec.requestBody ? { body: spec.requestBody as never } : {}),
    },
    responses: responses as never,
  });

  const middleware: RequestHandler[] = [];
  if (spec.auth === 'optional') middleware.push(authenticateIfSent);
  else if (spec.auth !== 'none') middleware.push(authenticate);
  if (staff) middleware.push(requireRole(staff));
  if (spec.rateLimit) middleware.push(rateLimit(spec.rateLimit));

  router[spec.method](spec.path, ...middleware, async (req: Request, res: Response, next: NextFunction) => {
    try {
      const parse = (schema: ZodType | undefined, value: unknown, where: string) => {
        if (!schema) return undefined;
        const r = schema.safeParse(value ?? {});
        if (!r.success) throw validationError(where, r.error.issues);
        return r.data;
      };
      const input = {
        body: parse(spec.body, req.body, 'body'),
        query: parse(spec.query, req.query, 'query'),
        params: parse(spec.params, req.params, 'params'),
        user: res.locals.user as User,
      } as Input<Infer<B>, Infer<Q>, Infer<P>>;
      await handler(req, res, input);
    } catch (err) {
      next(err);
    }
  });
}

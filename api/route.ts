import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import type { ZodType } from 'zod';
import type { User } from '../core/platform/records';
import { authenticate, authenticateIfSent, requireRole, type StaffRole } from './auth';
import { IdempotencyKey, idempotencyKeyOf } from './idempotency';
import { registry, z } from './openapi';
import { rateLimit, type RateLimitName } from './rate-limit';
import { HttpError, ProblemSchema } from './problem';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface RouteSpec<
  B extends ZodType | undefined,
  Q extends ZodType | undefined,
  P extends ZodType | undefined,
> {
  method: Method;
  /** Express syntax (/v1/orders/:id); written as {id} in the OpenAPI document. */
  path: string;
  /** Stable name of the operation in the OpenAPI document and in generated clients (camelCase verb first). */
  operationId: string;
  summary: string;
  /** Longer prose for the document, where the summary cannot say enough. */
  description?: string;
  tags: string[];
  /** 'user' needs a bearer token; 'optional' takes one (a token sent must be valid); a staff role needs that role (or admin). */
  auth: 'none' | 'optional' | 'user' | StaffRole;
  body?: B;
  query?: Q;
  params?: P;
  /** Honours an Idempotency-Key header (api/idempotency.ts): documented, and a malformed key refused before the handler. */
  idempotent?: boolean;
  /** Abuse limit (SC4), checked after authentication and before validation; documents the 429. */
  rateLimit?: RateLimitName;
  /** For documentation of non-JSON bodies (multipart uploads). */
  requestBody?: Record<string, unknown>;
  responses: Record<number, { description: string; schema?: ZodType; contentType?: string }>;
  /** Error codes this route can answer with, for the document. */
  errors?: Record<number, string>;
}

/** Who passes requireRole for each staff role, as the OpenAPI document tells front-end developers. */
const STAFF_NEEDS: Record<StaffRole, string> = {
  support: 'any staff role (support, privacy_officer or admin)',
  privacy_officer: 'the privacy_officer or admin role',
  admin: 'the admin role',
};

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

/** Every route added with route(), by "METHOD /path": what tests sweep (every input part, every staff route) instead of keeping lists. */
export const routeTable = new Map<
  string,
  {
    method: Method;
    path: string;
    operationId: string;
    auth: RouteSpec<undefined, undefined, undefined>['auth'];
    body?: ZodType;
    query?: ZodType;
    params?: ZodType;
    idempotent?: boolean;
    multipart: boolean;
  }
>();

const json = express.json({ limit: '100kb', type: ['application/json', 'application/*+json'] });

/** A request that carries a body (a length above 0, or chunks). */
const hasBody = (req: Request) =>
  req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

/** Parses a JSON body; a body of another type is refused rather than read as no body at all. */
function jsonBody(req: Request, res: Response, next: NextFunction): void {
  if (hasBody(req) && !req.is(['application/json', 'application/*+json'])) {
    return next(
      new HttpError(415, 'unsupported_media_type', 'JSON body required', 'Send the body as application/json.'),
    );
  }
  json(req, res, next);
}

/**
 * The errors every route can answer by what it takes: these are added to its own list in the document,
 * so a new route documents its 4xx by declaring its parts.
 */
function errorsOf(
  spec: RouteSpec<ZodType | undefined, ZodType | undefined, ZodType | undefined>,
  staff: boolean,
): Map<number, string[]> {
  const out = new Map<number, string[]>();
  const add = (status: number, codes: string) =>
    out.set(status, [...new Set([...(out.get(status) ?? []), ...codes.split(/,\s*/)])]);
  if (spec.body || spec.query || spec.params) add(400, 'validation_failed');
  if (spec.body) {
    add(400, 'malformed_json');
    add(413, 'body_too_large');
    add(415, 'unsupported_media_type');
  }
  if (spec.idempotent) {
    add(400, 'invalid_idempotency_key');
    add(422, 'idempotency_key_reused');
  }
  if (spec.auth !== 'none') add(401, 'unauthorized');
  if (staff) add(403, 'forbidden');
  if (spec.rateLimit) add(429, 'rate_limited');
  for (const [status, codes] of Object.entries(spec.errors ?? {})) add(Number(status), codes);
  // Node answers a request it cannot parse (a NUL byte in a header, say) with a bare 400 before any route.
  add(400, 'bad_request');
  return out;
}

/** Node's own answer to a request line and headers over its 16 kB limit, before any route (no body). */
export const HEADERS_TOO_LARGE = {
  description: 'Request line and headers over 16 kB, refused by the HTTP server (no body)',
};

const operationIds = new Map<string, string>();

/**
 * One way to add a route: its zod schemas validate the request and document it in /openapi.json.
 * Handlers are async and throw HttpError for a client mistake.
 */
export function route<
  B extends ZodType | undefined = undefined,
  Q extends ZodType | undefined = undefined,
  P extends ZodType | undefined = undefined,
>(
  router: Router,
  spec: RouteSpec<B, Q, P>,
  handler: (req: Request, res: Response, input: Input<Infer<B>, Infer<Q>, Infer<P>>) => Promise<void>,
): void {
  const key = `${spec.method.toUpperCase()} ${spec.path}`;
  // A second app in the same process registers the same routes again; two routes never share a name.
  if ((operationIds.get(spec.operationId) ?? key) !== key)
    throw new Error(`operationId ${spec.operationId} is used twice`);
  operationIds.set(spec.operationId, key);
  routeTable.set(key, {
    method: spec.method,
    path: spec.path,
    operationId: spec.operationId,
    auth: spec.auth,
    body: spec.body,
    query: spec.query,
    params: spec.params,
    idempotent: spec.idempotent,
    multipart: Boolean(spec.requestBody),
  });
  const responses: Record<string, unknown> = {};
  for (const [status, r] of Object.entries(spec.responses)) {
    responses[status] = {
      description: r.description,
      ...(r.schema
        ? { content: { [r.contentType ?? 'application/json']: { schema: r.schema } } }
        : r.contentType
          ? { content: { [r.contentType]: { schema: { type: 'string', format: 'binary' } } } }
          : {}),
    };
  }
  const staff = spec.auth !== 'none' && spec.auth !== 'optional' && spec.auth !== 'user' ? spec.auth : undefined;
  for (const [status, codes] of errorsOf(spec, Boolean(staff))) {
    responses[status] ??= {
      description: `Error: ${codes.join(', ')}`,
      content: { 'application/problem+json': { schema: ProblemSchema } },
    };
  }
  responses[431] = HEADERS_TOO_LARGE;
  registry.registerPath({
    method: spec.method,
    path: spec.path.replace(/:(\w+)/g, '{$1}'),
    operationId: spec.operationId,
    summary: spec.summary,
    ...(staff
      ? { description: `Staff only: ${STAFF_NEEDS[staff]}; 403 forbidden otherwise.` }
      : spec.description
        ? { description: spec.description }
        : {}),
    tags: spec.tags,
    security: spec.auth === 'none' ? [] : spec.auth === 'optional' ? [{ bearer: [] }, {}] : [{ bearer: [] }],
    request: {
      ...(spec.params ? { params: spec.params as never } : {}),
      ...(spec.query ? { query: spec.query as never } : {}),
      ...(spec.idempotent ? { headers: z.object({ 'idempotency-key': IdempotencyKey.optional() }) } : {}),
      ...(spec.body
        ? { body: { content: { 'application/json': { schema: spec.body } } } }
        : spec.requestBody
          ? { body: spec.requestBody as never }
          : {}),
    },
    responses: responses as never,
  });

  const middleware: RequestHandler[] = [];
  if (spec.body) middleware.push(jsonBody);
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
      if (spec.idempotent) idempotencyKeyOf(req);
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

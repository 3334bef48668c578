/**
 * The Rasmi API's typed client: every path, parameter, body and answer is typed from openapi.json
 * (types by openapi-typescript in schema.d.ts, requests by openapi-fetch). Regenerate with
 * `npm run client` in the repository after the routes change; CI fails when it is out of date.
 */
import createClient, { type Client } from 'openapi-fetch';
import type { paths, Problem } from './schema';

export type * from './schema';
export type RasmiClient = Client<paths>;

export interface RasmiClientOptions {
  /** The API's base URL (its PUBLIC_URL), without a trailing slash. */
  baseUrl: string;
  /** Bearer token from signIn, or a function that returns the current one. */
  token?: string | (() => string | undefined);
  fetch?: typeof globalThis.fetch;
}

export function createRasmiClient(opts: RasmiClientOptions): RasmiClient {
  const client = createClient<paths>({ baseUrl: opts.baseUrl, fetch: opts.fetch });
  client.use({
    onRequest({ request }) {
      const token = typeof opts.token === 'function' ? opts.token() : opts.token;
      if (token && !request.headers.has('authorization')) request.headers.set('Authorization', `Bearer ${token}`);
      return request;
    },
  });
  return client;
}

/** An error answer: its status and problem+json body, with the stable code to switch on. */
export class ProblemError extends Error {
  readonly code: string;
  constructor(
    readonly status: number,
    readonly problem: Partial<Problem>,
  ) {
    super(`${status} ${problem.code ?? 'error'}: ${problem.detail ?? problem.title ?? 'no details'}`);
    this.code = problem.code ?? 'unknown';
  }
}

/** The data of a successful answer, or a ProblemError for an error one. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.response.ok) return result.data as T;
  throw new ProblemError(result.response.status, (result.error ?? {}) as Partial<Problem>);
}

/** Uploads a selfie (multipart/form-data), which openapi-fetch sends as the FormData it is given. */
export function uploadPhoto(client: RasmiClient, photo: Blob, fields: { filename?: string; subject?: 'self' | 'minor'; parental_authority?: 'true' } = {}) {
  const form = new FormData();
  form.append('photo', photo, fields.filename ?? 'selfie.jpg');
  if (fields.subject) form.append('subject', fields.subject);
  if (fields.parental_authority) form.append('parental_authority', fields.parental_authority);
  return client.POST('/v1/photos', { body: form as never, bodySerializer: () => form });
}

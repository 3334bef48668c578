import { NEWEST_SHIPPED_POLICY_VERSION } from '../../policies';
import net from 'node:net';

/**
 * What the contract tests share: a valid JSON body for every route that takes one (the route table
 * lists them; a route without an entry fails the tests, so a new route is covered), a raw HTTP
 * client that puts any bytes on the wire, and the statuses the OpenAPI document lists.
 */

export const VALID_BODIES: Record<string, (ids: { userId: string }) => Record<string, unknown>> = {
  'POST /v1/accounts': () => ({
    email: 'prop@example.com',
    name: 'Prop',
    confirms_adult: true,
    accepted_policy_version: NEWEST_SHIPPED_POLICY_VERSION,
  }),
  'POST /v1/auth/code': () => ({ email: 'prop@example.com' }),
  'POST /v1/auth/token': () => ({ email: 'prop@example.com', code: '123456' }),
  'PATCH /v1/me': () => ({ name: 'Prop Person' }),
  'POST /v1/me/email/verify': () => ({ code: '123456' }),
  'POST /v1/me/policy-acceptance': () => ({ version: NEWEST_SHIPPED_POLICY_VERSION }),
  'PUT /v1/me/consents': () => ({ marketing: false }),
  'PUT /v1/cookie-consent': () => ({ preference: true, analytics: false, marketing: false }),
  'POST /v1/analytics/events': () => ({ name: 'page_view', path: '/pricing' }),
  'POST /v1/orders': () => ({
    package_id: 'professional',
    style_ids: ['studio-grey'],
    photo_ids: ['pho_01kbf0v2c8n4zq7w5y3x6t9r1m'],
  }),
  'POST /v1/orders/quote': () => ({
    package_id: 'professional',
    style_ids: ['studio-grey'],
    photo_ids: ['pho_01kbf0v2c8n4zq7w5y3x6t9r1m'],
  }),
  'POST /v1/orders/:id/reprocess': () => ({ style_ids: ['studio-grey'] }),
  'PATCH /v1/orders/:id/photos/:photo_id': () => ({ excluded: true }),
  // No "deletion": a valid one would block this person's account and end the run early.
  'POST /v1/rights-requests': () => ({ kind: 'restriction', purposes: ['marketing'] }),
  'POST /v1/inquiries': () => ({ kind: 'support', subject: 'Hi', message: 'Hello', email: 'prop@example.com' }),
  'POST /v1/staff/inquiries/:id/responses': () => ({ message: 'Thanks', resolve: false }),
  'POST /v1/staff/breaches': ({ userId }) => ({
    description: 'Test breach',
    detected_at: '2026-01-01T00:00:00Z',
    affected: { user_ids: [userId] },
  }),
  'POST /v1/staff/policy-versions': () => ({
    id: 'prop-1',
    last_updated: '2026-11-01',
    significant: false,
    material: false,
    text: 'A policy',
  }),
  'POST /v1/admin/marketing/send': () => ({ subject: 'News', text: 'Hello' }),
  'POST /v1/organisations': () => ({ name: 'Acme', billing_email: 'billing@example.com' }),
  'PATCH /v1/organisations/:id': () => ({ name: 'Acme Ltd' }),
  'PUT /v1/organisations/:id/brand': () => ({
    allowed_styles: ['studio-grey'],
    backdrop: { kind: 'solid', colour: '#1f3a5f' },
  }),
  'PUT /v1/organisations/:id/logo': () => ({ image_base64: null }),
  'POST /v1/organisations/:id/invitations': () => ({ email: 'colleague@example.com' }),
  'POST /v1/organisations/:id/invitation-links': () => ({ domain: 'example.com', max_uses: 5 }),
  'POST /v1/invitations/:token/accept': () => ({ consent_to_share: true }),
  'PATCH /v1/organisations/:id/members/:user_id': () => ({ role: 'admin' }),
  'PUT /v1/organisations/:id/me/consent': () => ({ granted: true }),
  'POST /v1/organisations/:id/me/shared': () => ({ headshot_ids: ['hs_01kbf0v2c8n4zq7w5y3x6t9r1m'] }),
  'POST /v1/organisations/:id/seats': () => ({ package_id: 'starter', seats: 1 }),
  'POST /v1/organisations/:id/orders': () => ({
    package_id: 'starter',
    style_ids: ['studio-grey'],
    photo_ids: ['pho_01kbf0v2c8n4zq7w5y3x6t9r1m'],
  }),
  'POST /v1/organisations/:id/headshots/:headshot_id/redo': () => ({ note: 'Please smile' }),
  'PUT /v1/organisations/:id/webhook': () => ({ url: 'https://hr.example.com/rasmi' }),
};

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer<ArrayBufferLike>;
}

/**
 * One HTTP/1.1 request written byte for byte (a NUL in a header, a raw byte in the path, a header
 * twice), read to the close (or to the headers of an event stream). fetch would refuse or
 * normalise most of what these tests send.
 */
export function rawRequest(
  url: string,
  head: { method: string; target: Buffer | string; headers: [string, Buffer | string][] },
  body: Buffer = Buffer.alloc(0),
): Promise<RawAnswer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    const lines: Buffer[] = [
      Buffer.from(`${head.method} `),
      Buffer.from(head.target as string),
      Buffer.from(` HTTP/1.1\r\nHost: ${u.host}\r\nConnection: close\r\n`),
    ];
    for (const [name, value] of head.headers)
      lines.push(Buffer.from(`${name}: `), Buffer.from(value as string), Buffer.from('\r\n'));
    lines.push(Buffer.from(`Content-Length: ${body.length}\r\n\r\n`), body);
    socket.setTimeout(20_000, () => socket.destroy(new Error('no answer within 20 s')));
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      // A stream (server-sent events) stays open: its status and headers are the answer.
      const all = Buffer.concat(chunks);
      const head = all.indexOf('\r\n\r\n');
      if (head >= 0 && /\r\ncontent-type: *text\/event-stream/i.test(all.subarray(0, head).toString('latin1')))
        finish();
    });
    socket.on('error', (err) => (chunks.length ? finish() : reject(err)));
    socket.on('end', finish);
    socket.write(Buffer.concat(lines));
    let done = false;
    function finish() {
      if (done) return;
      done = true;
      socket.destroy();
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      const [statusLine, ...headerLines] = all
        .subarray(0, split < 0 ? all.length : split)
        .toString('latin1')
        .split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of headerLines) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      let rest: Buffer = split < 0 ? Buffer.alloc(0) : all.subarray(split + 4);
      if (headers['transfer-encoding'] === 'chunked') rest = dechunk(rest);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body: rest });
    }
  });
}

function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = parseInt(b.subarray(at, eol).toString('latin1'), 16);
    if (!size) break;
    out.push(b.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

type OpenApiDoc = {
  paths: Record<
    string,
    Record<
      string,
      {
        operationId?: string;
        responses: Record<string, unknown>;
        parameters?: { name: string; in: string; schema?: { example?: unknown } }[];
      }
    >
  >;
};

/** The operation the document has for an Express route ("/v1/photos/:id" is "/v1/photos/{id}"). */
export function operationOf(doc: unknown, method: string, expressPath: string) {
  const op = (doc as OpenApiDoc).paths[expressPath.replace(/:(\w+)/g, '{$1}')]?.[method.toLowerCase()];
  if (!op) throw new Error(`${method} ${expressPath} is not in the document`);
  return op;
}

/** The statuses the document lists for an operation. */
export const documentedStatuses = (doc: unknown, method: string, expressPath: string): number[] =>
  Object.keys(operationOf(doc, method, expressPath).responses).map(Number);

/** express.json's limit (api/route.ts). */
export const BODY_LIMIT = 100 * 1024;

/** What the API must answer for JSON body bytes, from the route's schema alone: the same verdict on the same bytes. */
export function bodyVerdict(
  schema: { safeParse(v: unknown): { success: boolean } },
  body: Buffer | string,
): 'too_large' | 'malformed' | 'refused' | 'accepted' {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body; // lone surrogates travel as U+FFFD
  if (bytes.length > BODY_LIMIT) return 'too_large';
  const wire = bytes.toString('utf8'); // invalid and overlong sequences decode to U+FFFD, as body-parser's do
  let value: unknown;
  try {
    value = wire === '' ? {} : JSON.parse(wire);
  } catch {
    return 'malformed';
  }
  if (value === null || typeof value !== 'object') return 'malformed'; // express.json is strict
  return schema.safeParse(value).success ? 'accepted' : 'refused';
}

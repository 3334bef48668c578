import querystring from 'node:querystring';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ZodType } from 'zod';
import { newId } from '../../core/platform/crypto';
import { signWebhook } from '../../core/platform/payment-processor';
import { IdempotencyKey } from '../../api/idempotency';
import { routeTable } from '../../api/route';
import {
  bodyVerdict,
  documentedStatuses,
  operationOf,
  rawRequest,
  VALID_BODIES,
  type RawAnswer,
} from '../support/contract';
import { fixture, signIn, signUp, startStack, type Stack } from '../support/stack';
import { makeBases, multipartBody, pool } from '../support/hostile-images';

/**
 * Every route of the route table, every part of a request the API reads: path parameters, query
 * strings, the Authorization, Idempotency-Key and Content-Type headers, and JSON bodies as raw bytes.
 * Each case spoils one part of an otherwise valid request with a hostile value (NUL, lone
 * surrogates, overlong and invalid UTF-8, 100 kB strings, numbers out of range, arrays where a
 * string is expected, injection tricks). The answer is never a 5xx; its status is one the OpenAPI
 * document lists for that operation; a malformed path parameter or query string is refused with
 * 400 validation_failed naming it, and one the schema accepts is never refused. Bodies' values are
 * swept by json-properties.test.ts and uploads by hostile-input.test.ts; this file covers the rest.
 */

let stack: Stack;
let user: { token: string; email: string; userId: string };
let staff: { token: string; userId: string };
let doc: unknown;
let photo: Buffer;
beforeAll(async () => {
  stack = await startStack({ role: 'api', env: { UPLOAD_MAX_FILES_PER_USER: '100000' } });
  user = await signUp(stack);
  staff = await signUp(stack);
  await stack.ctx.db.updateTable('users').set({ role: 'admin' }).where('id', '=', staff.userId).execute();
  doc = (await stack.api('GET', '/openapi.json')).body;
  photo = (await makeBases(await fixture('astronaut.png'))).jpeg;
});
afterAll(async () => {
  await stack?.stop();
  console.log('input-parts outcomes per part:');
  for (const [part, outcomes] of [...tally].sort()) {
    const n = [...outcomes.values()].reduce((a, b) => a + b, 0);
    console.log(`  ${part}: ${n} cases, ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}`);
  }
});

const tally = new Map<string, Map<string, number>>();
function count(part: string, outcome: string) {
  const m = tally.get(part) ?? new Map<string, number>();
  m.set(outcome, (m.get(outcome) ?? 0) + 1);
  tally.set(part, m);
}

/** A hostile value as bytes; `wire` overrides how it is written into a URL (broken %-escapes). */
interface Hostile {
  label: string;
  bytes: Buffer;
  wire?: string;
}
const hex = (h: string) => Buffer.from(h, 'hex');
const utf8 = (s: string) => Buffer.from(s, 'utf8');
const BASE: Hostile[] = [
  { label: 'NUL', bytes: utf8('\u0000') },
  { label: 'lone high surrogate', bytes: utf8('\ud800') }, // what a client's encoder sends for it: U+FFFD
  { label: 'surrogate as bytes', bytes: hex('eda080') },
  { label: 'low surrogate as bytes', bytes: hex('edb080') },
  { label: 'overlong NUL', bytes: hex('c080') },
  { label: 'overlong slash', bytes: hex('c0af') },
  { label: 'overlong 3-byte', bytes: hex('e080af') },
  { label: 'overlong 4-byte', bytes: hex('f08080af') },
  { label: 'byte 0xff', bytes: hex('ff') },
  { label: 'truncated sequence', bytes: hex('e282') },
  { label: '100 kB', bytes: utf8('A'.repeat(100_000)) },
  { label: '15 kB', bytes: utf8('a'.repeat(15_000)) },
  { label: '4 kB of emoji', bytes: utf8('😀'.repeat(1000)) },
  ...['-1', '0', '-0', '1.5', '101', '1e308', '1e400', '9007199254740993', 'NaN', 'Infinity', '0x10'].map((n) => ({
    label: `number ${n}`,
    bytes: utf8(n),
  })),
  { label: 'JSON array', bytes: utf8('["a","b"]') },
  { label: 'JSON object', bytes: utf8('{"a":1}') },
  ...[
    "' OR 1=1 --",
    '../../etc/passwd',
    '\u202egnp.exe',
    '<script>alert(1)</script>',
    'ＡＢＣ',
    ' ',
    'null',
    '__proto__',
  ].map((t) => ({ label: `trick ${JSON.stringify(t)}`, bytes: utf8(t) })),
  { label: 'broken escape %', bytes: utf8('%'), wire: '%' },
  { label: 'broken escape %ZZ', bytes: utf8('%ZZ'), wire: '%ZZ' },
  { label: 'truncated escape', bytes: utf8('%E2%82'), wire: '%E2%82%A' },
  { label: 'double-encoded traversal', bytes: utf8('%2e%2e%2f'), wire: '%252e%252e%252f' },
];
/** Values made from a parameter's valid example: near misses of the format, and a well-formed unknown id. */
function nearMisses(example: string): Hostile[] {
  const out: Hostile[] = [
    { label: 'example upper-cased', bytes: utf8(example.toUpperCase()) },
    { label: 'example + NUL', bytes: utf8(`${example}\u0000`) },
    { label: 'example + space', bytes: utf8(`${example} `) },
    { label: 'example cut short', bytes: utf8(example.slice(0, -1)) },
    { label: 'example + 1 character', bytes: utf8(`${example}0`) },
  ];
  const prefix = /^([a-z]+)_[0-9a-z]{26}$/.exec(example)?.[1];
  if (prefix) {
    out.push({ label: 'well-formed unknown id', bytes: utf8(newId(prefix)) });
    out.push({ label: 'id of another kind', bytes: utf8(newId(prefix === 'usr' ? 'pho' : 'usr')) });
  }
  return out;
}

/** Percent-encodes every byte but the unreserved characters. */
const urlEncode = (b: Buffer) =>
  [...b]
    .map((c) =>
      /[A-Za-z0-9\-._~]/.test(String.fromCharCode(c))
        ? String.fromCharCode(c)
        : `%${c.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
/** What the router hands the schema: the decoded text, or undefined when the bytes are not UTF-8. */
function decoded(h: Hostile): string | undefined {
  if (h.wire) return h.wire.includes('%25') ? h.bytes.toString('utf8') : undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(h.bytes);
  } catch {
    return undefined;
  }
}

type Route = typeof routeTable extends Map<string, infer R> ? R : never;
const shape = (schema: ZodType | undefined) =>
  Object.keys((schema as unknown as { shape?: Record<string, unknown> } | undefined)?.shape ?? {});
const NODE_LIMIT = 16 * 1024; // Node's maxHeaderSize: a longer request head is answered 431 by the HTTP server

/** A valid request for a route: documented example ids in the path, its valid body, a token of the right kind. */
function validRequest(r: Route) {
  const op = operationOf(doc, r.method, r.path);
  const params: Record<string, string> = {};
  for (const [, name] of r.path.matchAll(/:(\w+)/g))
    params[name] = String(op.parameters!.find((p) => p.in === 'path' && p.name === name)!.schema!.example);
  const token = r.auth === 'none' ? undefined : r.auth === 'user' || r.auth === 'optional' ? user.token : staff.token;
  let body: Buffer | undefined;
  let contentType: string | undefined;
  if (r.body) {
    body = utf8(JSON.stringify(VALID_BODIES[`${r.method.toUpperCase()} ${r.path}`]({ userId: staff.userId })));
    contentType = 'application/json';
  } else if (r.multipart) {
    body = multipartBody([{ name: 'photo', filename: 'a.jpg', type: 'image/jpeg', data: photo }], 'contractBoundary');
    contentType = 'multipart/form-data; boundary=contractBoundary';
  }
  return { params, token, body, contentType };
}

/** A new session for the test person; one sign-in at a time, since each emails a code that replaces the last. */
let signing: Promise<unknown> = Promise.resolve();
function freshSession(): Promise<string> {
  const next = signing.then(() => signIn(stack, user.email));
  signing = next.catch(() => {});
  return next;
}

interface Spoiled {
  /** Path parameters, already percent-encoded. */
  pathWire?: Record<string, string>;
  query?: string;
  headers?: [string, Buffer | string][];
  /** Headers of the valid request that this case replaces. */
  drop?: string[];
  body?: Buffer;
}

async function send(
  r: Route,
  spoil: Spoiled,
): Promise<RawAnswer & { code?: string; errors?: { path: string }[]; byApp: boolean }> {
  const v = validRequest(r);
  const path = r.path.replace(/:(\w+)/g, (_, p: string) => spoil.pathWire?.[p] ?? encodeURIComponent(v.params[p]));
  const headers: [string, Buffer | string][] = [];
  if (v.token && !spoil.drop?.includes('authorization')) {
    // Signing out ends the session it is sent with: it gets a session of its own each time.
    const token = r.path === '/v1/auth/sign-out' ? await freshSession() : v.token;
    headers.push(['Authorization', `Bearer ${token}`]);
  }
  if (v.contentType && !spoil.drop?.includes('content-type')) headers.push(['Content-Type', v.contentType]);
  headers.push(...(spoil.headers ?? []));
  const answer = await rawRequest(
    stack.url,
    { method: r.method.toUpperCase(), target: path + (spoil.query ? `?${spoil.query}` : ''), headers },
    spoil.body ?? v.body,
  );
  // Every answer the app gives carries X-Request-Id (api/app.ts); Node's own refusals do not.
  const byApp = answer.headers['x-request-id'] !== undefined;
  const problem = (answer.headers['content-type'] ?? '').includes('json')
    ? (JSON.parse(answer.body.toString('utf8') || 'null') as { code?: string; errors?: { path: string }[] } | null)
    : null;
  return { ...answer, code: problem?.code, errors: problem?.errors, byApp };
}

/** What every answer must be, whatever was sent: no 5xx, a documented status, a problem+json for the app's errors. */
function checkContract(r: Route, part: string, label: string, a: Awaited<ReturnType<typeof send>>) {
  const name = `${r.method.toUpperCase()} ${r.path} ${part} ${label}: ${a.status} ${a.code ?? ''} ${JSON.stringify(a.errors ?? '')}`;
  count(part, `${a.status} ${a.byApp ? (a.code ?? '') : '(HTTP server)'}`.trim());
  expect(a.status, name).toBeGreaterThanOrEqual(200);
  expect(a.status, name).toBeLessThan(500);
  expect(documentedStatuses(doc, r.method, r.path), name).toContain(a.status);
  if (a.byApp && a.status >= 400) {
    expect(a.headers['content-type'], name).toContain('application/problem+json');
    expect(typeof a.code, name).toBe('string');
  }
  if (!a.byApp) expect([400, 431], name).toContain(a.status);
  return name;
}

const routes = () => [...routeTable.values()].sort((a, b) => Number(a.auth === 'admin') - Number(b.auth === 'admin'));
const CONCURRENCY = 4;

describe('every input part of every route under hostile values', () => {
  it('covers every route in the route table, and each documented example is valid for its route', () => {
    expect(routes().length).toBeGreaterThanOrEqual(58);
    for (const r of routes()) {
      const { params } = validRequest(r);
      if (r.params)
        expect(r.params.safeParse(params).success, `${r.method} ${r.path} example ${JSON.stringify(params)}`).toBe(
          true,
        );
      if (r.body)
        expect(
          VALID_BODIES[`${r.method.toUpperCase()} ${r.path}`],
          `${r.method} ${r.path} needs a valid body in test/support/contract.ts`,
        ).toBeDefined();
    }
  });

  it('path parameters: a malformed one is refused with 400 validation_failed naming it, so no query sees it; a well-formed one never is', async () => {
    const cases = routes().flatMap((r) =>
      shape(r.params).flatMap((name) =>
        [...BASE, ...nearMisses(validRequest(r).params[name])].map((h) => ({ r, name, h })),
      ),
    );
    expect(cases.length).toBeGreaterThan(1000);
    await pool(cases.length, CONCURRENCY, async (i) => {
      const { r, name, h } = cases[i];
      const a = await send(r, { pathWire: { [name]: h.wire ?? urlEncode(h.bytes) } });
      const label = checkContract(r, 'path', h.label, a);
      if ((h.wire ?? urlEncode(h.bytes)).length > NODE_LIMIT) return expect(a.status, label).toBe(431);
      const text = decoded(h);
      const valid = text !== undefined && r.params!.safeParse({ ...validRequest(r).params, [name]: text }).success;
      const namedRefusal =
        a.status === 400 &&
        a.code === 'validation_failed' &&
        (a.errors ?? []).some((e) => e.path === `params.${name}` || (text === undefined && e.path === 'params'));
      expect(namedRefusal, label).toBe(!valid);
    });
  }, 300_000);

  it('query strings: each key of each route with hostile values and repeated (array) values, and an unknown key on every route', async () => {
    type Case = { r: Route; name: string; query: string; label: string };
    const cases: Case[] = [];
    for (const r of routes()) {
      for (const name of shape(r.query)) {
        for (const h of BASE) cases.push({ r, name, query: `${name}=${h.wire ?? urlEncode(h.bytes)}`, label: h.label });
        cases.push({ r, name, query: `${name}=1&${name}=2`, label: 'repeated key (array)' });
        cases.push({ r, name, query: `${name}=`, label: 'empty' });
        cases.push({ r, name, query: `${name}[]=1`, label: 'bracket key' });
      }
      // A key no route reads, with the worst values: ignored by every route.
      for (const h of BASE.filter((x) => /NUL|surrogate|overlong|15 kB|array|escape/.test(x.label)))
        cases.push({ r, name: 'q', query: `q=${h.wire ?? urlEncode(h.bytes)}`, label: `unknown key, ${h.label}` });
    }
    expect(cases.length).toBeGreaterThan(500);
    await pool(cases.length, CONCURRENCY, async (i) => {
      const { r, name, query, label: what } = cases[i];
      const a = await send(r, { query });
      const label = checkContract(r, 'query', what, a);
      if (query.length > NODE_LIMIT) return expect(a.status, label).toBe(431);
      // Express's 'simple' query parser is node:querystring: the schema sees what it makes of the string.
      const valid = !r.query || r.query.safeParse(querystring.parse(query)).success;
      const refused =
        a.status === 400 && a.code === 'validation_failed' && (a.errors ?? []).some((e) => e.path.startsWith('query'));
      expect(refused, label).toBe(!valid);
      if (refused)
        expect(
          (a.errors ?? []).map((e) => e.path),
          label,
        ).toContain(`query.${name}`);
    });
  }, 300_000);

  it('Authorization: hostile tokens are 401 on every route that reads one, ignored on the others', async () => {
    const values: Hostile[] = [
      ...BASE,
      { label: 'empty', bytes: utf8('') },
      { label: 'Basic scheme', bytes: utf8('Basic dXNlcjpwYXNz') },
    ];
    // Every value on the first route of each kind of authentication; the worst of them on every route.
    const worst = values.filter((h) =>
      /^(NUL|lone high surrogate|overlong NUL|byte 0xff|100 kB|15 kB|JSON array|empty|Basic scheme)$/.test(h.label),
    );
    const firstOfKind = new Set([...new Map(routes().map((r) => [r.auth, r])).values()]);
    const cases = routes().flatMap((r) =>
      (firstOfKind.has(r) ? values : worst).flatMap((h) => [
        { r, h, bearer: false },
        { r, h, bearer: true },
      ]),
    );
    await pool(cases.length, CONCURRENCY, async (i) => {
      const { r, h, bearer } = cases[i];
      const value = bearer ? Buffer.concat([utf8('Bearer '), h.bytes]) : h.bytes;
      const a = await send(r, { headers: [['Authorization', value]], drop: ['authorization'] });
      const label = checkContract(r, 'header Authorization', `${bearer ? 'Bearer ' : ''}${h.label}`, a);
      if (!a.byApp || r.auth === 'none') return;
      expect([a.status, a.code], label).toEqual([401, 'unauthorized']);
    });
  }, 300_000);

  it('Idempotency-Key: a malformed key is refused with 400 invalid_idempotency_key before the work, on every route that honours one', async () => {
    const values: Hostile[] = [
      ...BASE,
      { label: 'too short', bytes: utf8('abc') },
      { label: '129 characters', bytes: utf8('k'.repeat(129)) },
      { label: 'space inside', bytes: utf8('key with space') },
    ];
    const cases = routes()
      .filter((r) => r.idempotent)
      .flatMap((r) => [
        ...values.map((h) => ({
          r,
          headers: [['Idempotency-Key', h.bytes]] as [string, Buffer][],
          label: h.label,
          key: h.bytes.toString('latin1'),
        })),
        {
          r,
          headers: [
            ['Idempotency-Key', utf8('key-one-123')],
            ['Idempotency-Key', utf8('key-two-456')],
          ] as [string, Buffer][],
          label: 'sent twice',
          key: 'key-one-123, key-two-456',
        },
      ]);
    expect(cases.length).toBeGreaterThan(100);
    await pool(cases.length, CONCURRENCY, async (i) => {
      const { r, headers, label: what, key } = cases[i];
      const a = await send(r, { headers });
      const label = checkContract(r, 'header Idempotency-Key', what, a);
      if (!a.byApp) return;
      expect(a.code === 'invalid_idempotency_key', label).toBe(!IdempotencyKey.safeParse(key).success);
    });
  }, 300_000);

  it('Content-Type: a JSON route refuses another type with 415, the upload route with 415 or 400; a JSON type is read as JSON', async () => {
    const types = [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
      '*/*',
      'application/jsonx',
      'application/json; charset=iso-8859-1',
    ];
    // utf-16 is JSON that body-parser decodes as such: these UTF-8 bytes are then malformed JSON.
    const jsonTypes = [
      'application/json',
      'APPLICATION/JSON',
      'application/json; charset=utf-8',
      'application/json; charset=utf-16',
      'application/merge-patch+json',
    ];
    const values: { label: string; bytes: Buffer; json: boolean | undefined }[] = [
      ...BASE.map((h) => ({ ...h, json: false })),
      ...types.map((t) => ({ label: t, bytes: utf8(t), json: false })),
      ...jsonTypes.map((t) => ({ label: t, bytes: utf8(t), json: true })),
      { label: 'none', bytes: Buffer.alloc(0), json: undefined },
    ];
    const cases = routes()
      .filter((r) => r.body || r.multipart)
      .flatMap((r) => values.map((v) => ({ r, v })));
    await pool(cases.length, CONCURRENCY, async (i) => {
      const { r, v } = cases[i];
      const a = await send(r, {
        headers: v.label === 'none' ? [] : [['Content-Type', v.bytes]],
        drop: ['content-type'],
      });
      const label = checkContract(r, 'header Content-Type', v.label, a);
      if (!a.byApp) return;
      if (r.multipart)
        return expect(
          a.status === 201 ? v.bytes.toString().startsWith('multipart/form-data') : [400, 415].includes(a.status),
          label,
        ).toBe(true);
      if (v.json === true) expect(a.code, label).not.toBe('unsupported_media_type');
      else if (v.json === false) expect([a.status, a.code], label).toEqual([415, 'unsupported_media_type']);
    });
  }, 300_000);

  it('JSON bodies as raw bytes: invalid UTF-8, out-of-range numbers and arrays in each field get the schema verdict', async () => {
    const values: { label: string; json: Buffer }[] = [
      ...BASE.filter((h) => !h.wire).map((h) => ({
        label: `string of ${h.label}`,
        json: Buffer.concat([utf8('"'), h.bytes, utf8('"')]),
      })),
      ...['1e400', '-1e400', '9007199254740993', '-0', '1e-400'].map((n) => ({ label: `number ${n}`, json: utf8(n) })),
      { label: 'array of strings', json: utf8('["a","b"]') },
      { label: 'array of 10000', json: utf8(JSON.stringify(Array.from({ length: 10_000 }, () => 'x'))) },
      { label: 'nested arrays', json: utf8('['.repeat(2000) + ']'.repeat(2000)) },
    ];
    const cases = routes()
      .filter((r) => r.body)
      .flatMap((r) => {
        const valid = VALID_BODIES[`${r.method.toUpperCase()} ${r.path}`]({ userId: staff.userId });
        return Object.keys(valid).flatMap((field) =>
          values.map((v) => {
            const parts = Object.entries(valid).map(([k, x]) =>
              Buffer.concat([utf8(`${JSON.stringify(k)}:`), k === field ? v.json : utf8(JSON.stringify(x))]),
            );
            const body = Buffer.concat([utf8('{'), ...parts.flatMap((p, j) => (j ? [utf8(','), p] : [p])), utf8('}')]);
            return { r, body, label: `${field}: ${v.label}` };
          }),
        );
      });
    expect(cases.length).toBeGreaterThan(500);
    await pool(cases.length, CONCURRENCY, async (i) => {
      const { r, body, label: what } = cases[i];
      const a = await send(r, { body, headers: r.idempotent ? [['Idempotency-Key', newId('idem')]] : [] });
      const label = checkContract(r, 'body', what, a);
      const verdict = bodyVerdict(r.body!, body);
      if (verdict === 'too_large') expect([a.status, a.code], label).toEqual([413, 'body_too_large']);
      else if (verdict === 'malformed') expect([a.status, a.code], label).toEqual([400, 'malformed_json']);
      else
        expect(
          a.status === 400 && a.code === 'validation_failed' && (a.errors ?? []).some((e) => e.path.startsWith('body')),
          label,
        ).toBe(verdict === 'refused');
    });
  }, 300_000);

  it('the payment webhook: hostile signatures and types are refused with a documented 4xx', async () => {
    const webhook = {
      method: 'post' as const,
      path: '/v1/payments/webhook',
      operationId: 'receivePaymentWebhook',
      auth: 'none' as const,
      multipart: false,
    };
    const body = utf8(
      JSON.stringify({
        id: 'evt_1',
        type: 'payment_intent.succeeded',
        data: { object: { id: 'pi_1', amount: 100, currency: 'eur' } },
      }),
    );
    const cases = [
      ...BASE.map((h) => ({
        label: h.label,
        headers: [
          ['Stripe-Signature', h.bytes],
          ['Content-Type', 'application/json'],
        ] as [string, Buffer | string][],
      })),
      ...BASE.slice(0, 12).map((h) => ({
        label: `t=1,v1=${h.label}`,
        headers: [
          [
            'Stripe-Signature',
            Buffer.concat([utf8(`t=${Math.floor(stack.clock.now().getTime() / 1000)},v1=`), h.bytes]),
          ],
          ['Content-Type', h.bytes],
        ] as [string, Buffer | string][],
      })),
    ];
    await pool(cases.length, CONCURRENCY, async (i) => {
      const a = await send(webhook, { headers: cases[i].headers, body });
      const label = checkContract(webhook, 'header Stripe-Signature', cases[i].label, a);
      if (a.byApp && a.status !== 431) expect([a.status, a.code], label).toEqual([400, 'webhook_signature_invalid']);
    });
  });

  it('the payment webhook: signed events with hostile fields are refused with 400 webhook_payload_invalid or answered as an unknown payment, never a 5xx', async () => {
    const webhook = {
      method: 'post' as const,
      path: '/v1/payments/webhook',
      operationId: 'receivePaymentWebhook',
      auth: 'none' as const,
      multipart: false,
    };
    const valid = {
      id: 'evt_1',
      type: 'payment_intent.succeeded',
      data: { object: { id: 'pi_1', object: 'payment_intent', amount: 100, currency: 'eur' } },
    };
    const fields: [string, (v: unknown) => unknown][] = [
      ['id', (v) => ({ ...valid, id: v })],
      ['type', (v) => ({ ...valid, type: v })],
      ['data.object.id', (v) => ({ ...valid, data: { object: { ...valid.data.object, id: v } } })],
      ['data.object.amount', (v) => ({ ...valid, data: { object: { ...valid.data.object, amount: v } } })],
      ['data.object.currency', (v) => ({ ...valid, data: { object: { ...valid.data.object, currency: v } } })],
    ];
    const values: [string, string][] = [
      ...BASE.filter((h) => !h.wire && h.bytes.length < 50_000).map(
        (h) => [h.label, JSON.stringify(h.bytes.toString('utf8'))] as [string, string],
      ),
      ['1e400', '1e400'],
      ['-1', '-1'],
      ['1.5', '1.5'],
      ['9007199254740993', '9007199254740993'],
      ['array', '["a"]'],
      ['object', '{"a":1}'],
      ['null', 'null'],
      ['NUL', '"\\u0000"'],
    ];
    const cases = fields.flatMap(([field, set]) =>
      values.map(([label, json]) => ({
        label: `${field}: ${label}`,
        body: JSON.stringify(set('@@')).replace('"@@"', json),
      })),
    );
    const seen = new Set<string>();
    await pool(cases.length, CONCURRENCY, async (i) => {
      const { label: what, body } = cases[i];
      // A unique event id, so no case is taken for a replay of another.
      const unique = body.replace('"evt_1"', JSON.stringify(newId('evt')));
      const signature = signWebhook(unique, stack.config.PAYMENT_WEBHOOK_SECRET, stack.clock.now());
      const a = await send(webhook, {
        headers: [
          ['Stripe-Signature', signature],
          ['Content-Type', 'application/json'],
        ],
        body: utf8(unique),
      });
      const label = checkContract(webhook, 'signed webhook body', what, a);
      seen.add(`${a.status} ${a.code ?? ''}`);
      expect(
        [
          [400, 'webhook_payload_invalid'],
          [404, 'payment_unknown'],
          [200, undefined],
        ],
        label,
      ).toContainEqual([a.status, a.code]);
    });
    expect(seen).toContain('400 webhook_payload_invalid');
  });

  it('keeps serving after all of it', async () => {
    expect((await stack.api('GET', '/healthz')).status).toBe(200);
    expect((await stack.api('GET', '/v1/me', { token: user.token })).status).toBe(200);
  });
});

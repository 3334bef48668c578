import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp, startStack, type Stack } from '../support/stack';

/**
 * Property tests for JSON bodies: whatever arrives (wrong types, huge strings, unicode tricks,
 * SQL and shell metacharacters, prototype-pollution keys), the answer is a 2xx or a 4xx
 * problem+json with a code, never a 5xx, and nothing reaches Object.prototype.
 */

let stack: Stack;
let token: string;
const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();
const tally = new Map<string, number>();
beforeAll(async () => {
  stack = await startStack({ role: 'api' });
  ({ token } = await signUp(stack));
});
afterAll(async () => {
  await stack?.stop();
  console.log('json-properties answers:', Object.fromEntries([...tally].sort()));
});

const TRICKS = [
  '\u202egnp.exe', '\u200b\u200c\u200d\ufeff', 'a\u0000b', '\u0000', '\ud800', 'Ω≈ç√∫', '𝕳𝖊𝖑𝖑𝖔', 'e\u0301', '\u2028\u2029',
  "' OR 1=1 --", "'; DROP TABLE users; --", '" OR ""="', '1; SELECT pg_sleep(10)', '$(rm -rf /)', '`id`', '| cat /etc/passwd', '; ls', '&& curl evil',
  '../../etc/passwd', '%00', '{{7*7}}', '${7*7}', '<script>alert(1)</script>', 'javascript:alert(1)', '\r\nSet-Cookie: x=1',
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '+41791234567', 'a@b.c', 'professional', 'studio-grey',
];
const POLLUTION = [
  '{"__proto__":{"polluted":"yes"}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '{"prototype":{"polluted":"yes"}}',
  '[{"__proto__":{"polluted":"yes"}}]',
];

const text = (v: unknown) => JSON.stringify(v) ?? 'null';
const hugeString = fc.tuple(fc.constantFrom('A', '\u202e', '\u0000', "'", 'é', '😀'), fc.integer({ min: 1_000, max: 50_000 })).map(([c, n]) => c.repeat(Math.ceil(n / c.length)));
const hostileString = fc.oneof(fc.string(), fc.string({ unit: 'binary', maxLength: 50 }), fc.constantFrom(...TRICKS), hugeString);
/** A JSON value as text, so pollution keys stay own keys on the wire instead of setting a prototype. */
const hostileValue: fc.Arbitrary<string> = fc.oneof(
  hostileString.map(text),
  fc.jsonValue({ maxDepth: 2 }).map(text),
  fc.constantFrom('true', 'false', 'null', '0', '-1', '1e308', '-0', '9007199254740993', '[]', '{}'),
  fc.array(hostileString, { maxLength: 25 }).map(text),
  fc.constantFrom(...POLLUTION),
);
const objectText = (entries: [string, string][]) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;

/** Bodies for a route: arbitrary JSON, objects of its own keys with hostile values, a valid body with one field spoiled. */
function bodies(keys: string[], valid: Record<string, unknown>): fc.Arbitrary<string> {
  const key = fc.constantFrom(...keys, '__proto__', 'constructor', 'prototype', 'polluted');
  return fc.oneof(
    fc.jsonValue({ maxDepth: 3 }).map(text),
    fc.constantFrom(...POLLUTION, '', 'not json', '{"a":', '[' .repeat(5000), '"\\ud800"'),
    fc.array(fc.tuple(key, hostileValue), { maxLength: 6 }).map(objectText),
    fc.tuple(fc.constantFrom(...keys, '__proto__', 'constructor'), hostileValue).map(([k, v]) =>
      objectText([...Object.entries(valid).filter(([vk]) => vk !== k).map(([vk, vv]) => [vk, text(vv)] as [string, string]), [k, v]]),
    ),
  );
}

const ROUTES: { method: string; path: string; auth: boolean; keys: string[]; valid: Record<string, unknown> }[] = [
  { method: 'POST', path: '/v1/accounts', auth: false, keys: ['email', 'name', 'phone', 'confirms_adult', 'accepted_policy_version'], valid: { email: 'prop@example.com', name: 'Prop', confirms_adult: true, accepted_policy_version: '2026-01' } },
  { method: 'POST', path: '/v1/orders', auth: true, keys: ['package_id', 'style_ids', 'photo_ids'], valid: { package_id: 'professional', style_ids: ['studio-grey'], photo_ids: ['pho_x'] } },
  { method: 'PATCH', path: '/v1/me', auth: true, keys: ['name', 'phone', 'email'], valid: { name: 'Prop Person' } },
  // No "deletion": a valid one would block this person's account and end the run early.
  { method: 'POST', path: '/v1/rights-requests', auth: true, keys: ['kind', 'purposes', 'basis'], valid: { kind: 'restriction', purposes: ['marketing'] } },
  { method: 'PUT', path: '/v1/me/consents', auth: true, keys: ['marketing', 'analytics', 'service_improvement', 'portfolio', 'whatsapp'], valid: { marketing: false } },
  { method: 'POST', path: '/v1/inquiries', auth: false, keys: ['kind', 'subject', 'message', 'email'], valid: { kind: 'support', subject: 'Hi', message: 'Hello', email: 'prop@example.com' } },
];

describe('JSON bodies under property tests', () => {
  for (const r of ROUTES) {
    it(`${r.method} ${r.path} answers every body with a 2xx or a 4xx problem+json code`, async () => {
      await fc.assert(
        fc.asyncProperty(bodies(r.keys, r.valid), async (body) => {
          const headers: Record<string, string> = { 'content-type': 'application/json', 'idempotency-key': randomUUID() };
          if (r.auth) headers.authorization = `Bearer ${token}`;
          const res = await fetch(stack.url + r.path, { method: r.method, headers, body });
          const type = res.headers.get('content-type') ?? '';
          const json = type.includes('json') ? ((await res.json()) as { code?: string }) : undefined;
          tally.set(`${res.status} ${json?.code ?? ''}`.trim(), (tally.get(`${res.status} ${json?.code ?? ''}`.trim()) ?? 0) + 1);
          if (res.status >= 200 && res.status < 300) return;
          expect(res.status, `body ${body.slice(0, 200)} → ${JSON.stringify(json)}`).toBeGreaterThanOrEqual(400);
          expect(res.status, `body ${body.slice(0, 200)} → ${JSON.stringify(json)}`).toBeLessThan(500);
          expect(type).toContain('application/problem+json');
          expect(typeof json?.code).toBe('string');
        }),
        { numRuns: 150, seed: 5_0005, endOnFailure: true },
      );
    });
  }

  it('leaves Object.prototype untouched after every body', () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoBefore);
  });
});

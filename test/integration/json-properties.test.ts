import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeTable } from '../../api/route';
import { bodyVerdict, documentedStatuses, operationOf, VALID_BODIES } from '../support/contract';
import { signUp, startStack, type Stack } from '../support/stack';

/**
 * Property tests for every JSON body against its schema: whatever arrives (wrong types, huge
 * strings, unicode tricks, SQL and shell metacharacters, prototype-pollution keys), the API's
 * verdict is the schema's (refused with 400 validation_failed, or accepted past validation), the
 * answer is never a 5xx and always a status the OpenAPI document lists, and nothing reaches Object.prototype.
 */

let stack: Stack;
let token: string;
let doc: unknown;
const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();
const tally = new Map<string, number>();
beforeAll(async () => {
  stack = await startStack({ role: 'api' });
  ({ token } = await signUp(stack));
  doc = (await stack.api('GET', '/openapi.json')).body;
});
afterAll(async () => {
  await stack?.stop();
  console.log('json-properties answers:', Object.fromEntries([...tally].sort()));
});

const TRICKS = [
  '\u202egnp.exe',
  '\u200b\u200c\u200d\ufeff',
  'a\u0000b',
  '\u0000',
  '\ud800',
  'Ω≈ç√∫',
  '𝕳𝖊𝖑𝖑𝖔',
  'e\u0301',
  '\u2028\u2029',
  "' OR 1=1 --",
  "'; DROP TABLE users; --",
  '" OR ""="',
  '1; SELECT pg_sleep(10)',
  '$(rm -rf /)',
  '`id`',
  '| cat /etc/passwd',
  '; ls',
  '&& curl evil',
  '../../etc/passwd',
  '%00',
  '{{7*7}}',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, sent as literal text
  '${7*7}',
  '<script>alert(1)</script>',
  'javascript:alert(1)',
  '\r\nSet-Cookie: x=1',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '+41791234567',
  'a@b.c',
  'professional',
  'studio-grey',
];
const POLLUTION = [
  '{"__proto__":{"polluted":"yes"}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '{"prototype":{"polluted":"yes"}}',
  '[{"__proto__":{"polluted":"yes"}}]',
];

const text = (v: unknown) => JSON.stringify(v) ?? 'null';
const hugeString = fc
  .tuple(fc.constantFrom('A', '\u202e', '\u0000', "'", 'é', '😀'), fc.integer({ min: 1_000, max: 50_000 }))
  .map(([c, n]) => c.repeat(Math.ceil(n / c.length)));
const hostileString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.constantFrom(...TRICKS),
  hugeString,
);
/** A JSON value as text, so pollution keys stay own keys on the wire instead of setting a prototype. */
const hostileValue: fc.Arbitrary<string> = fc.oneof(
  hostileString.map(text),
  fc.jsonValue({ maxDepth: 2 }).map(text),
  fc.constantFrom('true', 'false', 'null', '0', '-1', '1e308', '-0', '9007199254740993', '[]', '{}'),
  fc.array(hostileString, { maxLength: 25 }).map(text),
  fc.constantFrom(...POLLUTION),
);
const objectText = (entries: [string, string][]) =>
  `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;

/** Bodies for a route: arbitrary JSON, objects of its own keys with hostile values, a valid body with one field spoiled. */
function bodies(keys: string[], valid: Record<string, unknown>): fc.Arbitrary<string> {
  const key = fc.constantFrom(...keys, '__proto__', 'constructor', 'prototype', 'polluted');
  return fc.oneof(
    fc.jsonValue({ maxDepth: 3 }).map(text),
    fc.constantFrom(...POLLUTION, '', 'not json', '{"a":', '['.repeat(5000), '"\\ud800"'),
    fc.array(fc.tuple(key, hostileValue), { maxLength: 6 }).map(objectText),
    fc.tuple(fc.constantFrom(...keys, '__proto__', 'constructor'), hostileValue).map(([k, v]) =>
      objectText([
        ...Object.entries(valid)
          .filter(([vk]) => vk !== k)
          .map(([vk, vv]) => [vk, text(vv)] as [string, string]),
        [k, v],
      ]),
    ),
  );
}

describe('JSON bodies under property tests', () => {
  it('every route with a JSON body answers bodies on both sides of its schema as the schema says: refused with 400 validation_failed naming the body, accepted past validation, never a 5xx', async () => {
    const staff = await signUp(stack);
    await stack.ctx.db.updateTable('users').set({ role: 'admin' }).where('id', '=', staff.userId).execute();
    // Routes that publish policy versions or send campaigns go last: they change what later routes see.
    const routes = [...routeTable.values()]
      .filter((r) => r.body)
      .sort((a, b) => Number(a.auth === 'admin') - Number(b.auth === 'admin'));
    expect(routes.map((r) => `${r.method.toUpperCase()} ${r.path}`).filter((k) => !VALID_BODIES[k])).toEqual([]);
    expect(routes.length).toBeGreaterThanOrEqual(17);
    const verdicts = { too_large: 0, malformed: 0, refused: 0, accepted: 0 };
    for (const r of routes) {
      const name = `${r.method.toUpperCase()} ${r.path}`;
      const schema = r.body!;
      const valid = VALID_BODIES[name]({ userId: staff.userId });
      const keys = Object.keys((schema as unknown as { shape?: Record<string, unknown> }).shape ?? valid);
      const path = r.path.replace(/:(\w+)/g, (_, p: string) =>
        String(operationOf(doc, r.method, r.path).parameters!.find((x) => x.name === p)!.schema!.example),
      );
      const documented = documentedStatuses(doc, r.method, r.path);
      await fc.assert(
        fc.asyncProperty(bodies(keys, valid), async (body) => {
          const headers: Record<string, string> = {
            'content-type': 'application/json',
            'idempotency-key': randomUUID(),
          };
          if (r.auth !== 'none') headers.authorization = `Bearer ${r.auth === 'user' ? token : staff.token}`;
          const res = await fetch(stack.url + path, { method: r.method.toUpperCase(), headers, body });
          const type = res.headers.get('content-type') ?? '';
          const json = type.includes('json')
            ? ((await res.json()) as { code?: string; errors?: { path: string }[] })
            : undefined;
          const label = `${name}: ${body.slice(0, 200)} → ${res.status} ${JSON.stringify(json).slice(0, 300)}`;
          tally.set(
            `${res.status} ${json?.code ?? ''}`.trim(),
            (tally.get(`${res.status} ${json?.code ?? ''}`.trim()) ?? 0) + 1,
          );
          expect(res.status, label).toBeLessThan(500);
          expect(documented, label).toContain(res.status);
          if (res.status >= 400) {
            expect(type, label).toContain('application/problem+json');
            expect(typeof json?.code, label).toBe('string');
          }
          const bodyRefused =
            res.status === 400 &&
            json?.code === 'validation_failed' &&
            (json.errors ?? []).some((e) => e.path.startsWith('body'));
          const verdict = bodyVerdict(schema, body);
          verdicts[verdict]++;
          if (verdict === 'too_large') expect([res.status, json?.code], label).toEqual([413, 'body_too_large']);
          else if (verdict === 'malformed') expect([res.status, json?.code], label).toEqual([400, 'malformed_json']);
          else expect(bodyRefused, label).toBe(verdict === 'refused');
        }),
        { numRuns: 60, seed: 5_0005, endOnFailure: true },
      );
    }
    // Both sides of the schemas were reached, over all routes.
    expect(verdicts.refused).toBeGreaterThan(100);
    expect(verdicts.accepted).toBeGreaterThan(50);
    console.log(`json-properties: ${routes.length} routes, verdicts ${JSON.stringify(verdicts)}`);
  }, 240_000);

  it('leaves Object.prototype untouched after every body', () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoBefore);
  });
});

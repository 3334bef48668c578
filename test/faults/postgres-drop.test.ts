import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, footprint, multipart, signUp, startStack, until, type Stack } from '../support/stack';
import { allowConnections, dropConnections, orphans } from './support';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ role: 'api' });
});
afterAll(async () => {
  await allowConnections(stack.config.DATABASE_URL, true).catch(() => {});
  await stack?.stop();
});

describe('Postgres connections dropped while the API serves', () => {
  it('answers 503 database_unavailable while down, never 500, and recovers by itself', async () => {
    const me = await signUp(stack);
    const photo = await fixture('astronaut.png');
    const upload = () => stack.api('POST', '/v1/photos', { token: me.token, body: multipart('photo', photo, 'astronaut.png', 'image/png') });
    expect((await upload()).status).toBe(201);
    expect((await stack.api('GET', '/readyz')).body.checks.postgres).toBe('ok');

    // Drop every connection while requests are in flight, and refuse new ones for a while.
    const inFlight = Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? upload() : stack.api('GET', '/v1/photos', { token: me.token })));
    await allowConnections(stack.config.DATABASE_URL, false);
    expect(await dropConnections(stack.config.DATABASE_URL)).toBeGreaterThan(0);
    const during = [...(await Promise.all(inFlight)), await stack.api('GET', '/v1/photos', { token: me.token }), await upload()];
    const statuses = during.map((r) => r.status);
    expect(statuses.every((s) => [200, 201, 503].includes(s))).toBe(true);
    const refused = during.filter((r) => r.status === 503);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.body.code).toBe('database_unavailable');
      expect(r.headers.get('retry-after')).toBe('5');
    }
    const down = await stack.api('GET', '/readyz');
    expect(down.status).toBe(503);
    expect(down.body.checks.postgres).toBe('down');

    await allowConnections(stack.config.DATABASE_URL, true);
    const up = await until(async () => {
      const r = await stack.api('GET', '/readyz');
      return r.status === 200 && r;
    }, 20_000, 'readyz to recover');
    expect(up.body.checks.postgres).toBe('ok');
    expect((await upload()).status).toBe(201);

    // No half-written upload: every photo has its blob and every blob its object, and back.
    const f = await footprint(stack);
    expect(f.photos).toBe(f.blobs);
    expect(f.objects).toBe(f.blobs);
    expect(await orphans(stack)).toEqual({ objectsWithoutRow: [], rowsWithoutObject: [] });
  });
});

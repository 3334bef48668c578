import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, multipart, signUp, startStack, until, type Stack, uploadJudged } from '../support/stack';

let stack: Stack;
let a: { token: string };
let b: { token: string };
let photoId: string;
let orderId: string;
let headshotId: string;

beforeAll(async () => {
  stack = await startStack();
  a = await signUp(stack);
  b = await signUp(stack);
  photoId = (await uploadJudged(stack, a.token, await fixture('astronaut.png'))).id;
  orderId = (
    await stack.api('POST', '/v1/orders', {
      token: a.token,
      json: { package_id: 'starter', style_ids: ['studio-white'], photo_ids: [photoId] },
    })
  ).body.order.id;
  const order = await until(
    async () => {
      const o = await stack.api('GET', `/v1/orders/${orderId}`, { token: a.token });
      return o.body.status === 'ready' && o.body;
    },
    60_000,
    'order ready',
  );
  headshotId = order.headshots[0].id;
});
afterAll(async () => {
  await stack?.stop();
});

describe("one person cannot reach another's data", () => {
  it("SC5 B gets 404 on every route that names A's photo, order or headshot", async () => {
    const routes: [string, string][] = [
      ['GET', `/v1/photos/${photoId}`],
      ['GET', `/v1/photos/${photoId}/content`],
      ['DELETE', `/v1/photos/${photoId}`],
      ['GET', `/v1/orders/${orderId}`],
      ['GET', `/v1/headshots/${headshotId}/content`],
      ['POST', `/v1/headshots/${headshotId}/link`],
    ];
    for (const [method, path] of routes) {
      const res = await stack.api(method, path, { token: b.token });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.code).toBe('not_found');
      // A can, so the 404 is about ownership, not a missing thing.
      if (method === 'GET') expect((await stack.api(method, path, { token: a.token })).status).toBe(200);
    }
  });

  it("SC5 B's lists show none of A's things, and B cannot order with A's photo", async () => {
    expect((await stack.api('GET', '/v1/photos', { token: b.token })).body.items).toEqual([]);
    expect((await stack.api('GET', '/v1/orders', { token: b.token })).body.items).toEqual([]);
    const res = await stack.api('POST', '/v1/orders', {
      token: b.token,
      json: { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [photoId] },
    });
    expect(res.status).toBe(404);
  });

  it('SC5 without a token or with a revoked one every owned route answers 401', async () => {
    expect((await stack.api('GET', '/v1/photos')).status).toBe(401);
    expect((await stack.api('GET', `/v1/orders/${orderId}`, { token: 'not-a-real-token-0123456789' })).status).toBe(
      401,
    );
    const c = await signUp(stack);
    expect((await stack.api('POST', '/v1/auth/sign-out', { token: c.token })).status).toBe(204);
    const after = await stack.api('GET', '/v1/me', { token: c.token });
    expect(after.status).toBe(401);
    expect(after.body.code).toBe('unauthorized');
  });

  it('lists are paginated with a cursor', async () => {
    for (let i = 0; i < 2; i++)
      await stack.api('POST', '/v1/photos', { token: a.token, body: multipart('photo', await fixture('coffee.png')) });
    const first = await stack.api('GET', '/v1/photos?limit=2', { token: a.token });
    expect(first.body.items).toHaveLength(2);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await stack.api('GET', `/v1/photos?limit=2&cursor=${first.body.next_cursor}`, { token: a.token });
    expect(second.body.items).toHaveLength(1);
    expect(second.body.next_cursor).toBeNull();
    const ids = [...first.body.items, ...second.body.items].map((p: { id: string }) => p.id);
    expect(new Set(ids).size).toBe(3);
  });
});

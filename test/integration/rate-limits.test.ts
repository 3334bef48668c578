import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, multipart, signUp, startStack, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ role: 'api', env: { RATE_LIMIT_SIGN_IN: '4', RATE_LIMIT_SIGN_IN_WINDOW_SECONDS: '900', RATE_LIMIT_UPLOADS: '3', RATE_LIMIT_RIGHTS: '2' } });
});
afterAll(async () => {
  await stack?.stop();
});

describe('abuse limits (SC4)', () => {
  it('SC4 sign-in requests are limited per address with 429, Retry-After and RateLimit headers; the next window admits again', async () => {
    const ask = () => stack.api('POST', '/v1/auth/code', { json: { email: 'someone@example.com' } });
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await ask());
    expect(answers.slice(0, 4).map((r) => r.status)).toEqual([202, 202, 202, 202]);
    expect(answers[0].headers.get('ratelimit-limit')).toBe('4');
    expect(answers[3].headers.get('ratelimit-remaining')).toBe('0');
    const refused = answers[4];
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe('rate_limited');
    const retry = Number(refused.headers.get('retry-after'));
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(900);
    // The token exchange shares the sign-in budget: guessing codes is slowed down too.
    expect((await stack.api('POST', '/v1/auth/token', { json: { email: 'someone@example.com', code: '123456' } })).status).toBe(429);
    stack.clock.advance(retry * 1000);
    expect((await ask()).status).toBe(202);
  });

  it('SC4 uploads are limited per person', async () => {
    stack.clock.advance(3600_000);
    const me = await signUp(stack);
    const photo = await fixture('coffee.png');
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await stack.api('POST', '/v1/photos', { token: me.token, body: multipart('photo', photo) })).status);
    expect(statuses).toEqual([201, 201, 201, 429]);
    // Another person has their own budget.
    stack.clock.advance(900_000);
    const other = await signUp(stack);
    expect((await stack.api('POST', '/v1/photos', { token: other.token, body: multipart('photo', photo) })).status).toBe(201);
  });

  it('SC4 rights requests are limited per person', async () => {
    stack.clock.advance(3600_000);
    const me = await signUp(stack);
    const ask = () => stack.api('POST', '/v1/rights-requests', { token: me.token, json: { kind: 'restriction', purposes: ['analytics'] } });
    const statuses = [(await ask()).status, (await ask()).status, (await ask()).status];
    expect(statuses.slice(0, 2).every((s) => s < 300)).toBe(true);
    expect(statuses[2]).toBe(429);
  });
});

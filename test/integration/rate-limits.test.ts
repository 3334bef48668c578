import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, multipart, signUp, startStack, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    role: 'api',
    env: {
      RATE_LIMIT_SIGN_IN: '4',
      RATE_LIMIT_SIGN_IN_WINDOW_SECONDS: '900',
      RATE_LIMIT_UPLOADS: '3',
      RATE_LIMIT_RIGHTS: '2',
    },
  });
});
afterAll(async () => {
  await stack?.stop();
});

/** A refusal is 429 rate_limited, with Retry-After in whole seconds until the current fixed window of the service clock ends. */
function refusal(res: Awaited<ReturnType<Stack['api']>>, windowSeconds: number): number {
  expect(res.status).toBe(429);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  expect(res.body.code).toBe('rate_limited');
  const header = res.headers.get('retry-after') ?? '';
  expect(header).toMatch(/^[1-9]\d*$/);
  const nowSeconds = Math.floor(stack.clock.now().getTime() / 1000);
  expect(Number(header)).toBe(windowSeconds - (nowSeconds % windowSeconds));
  return Number(header);
}

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
    expect(
      (await stack.api('POST', '/v1/auth/token', { json: { email: 'someone@example.com', code: '123456' } })).status,
    ).toBe(429);
    stack.clock.advance(retry * 1000);
    expect((await ask()).status).toBe(202);
  });

  it('SC4 uploads are limited per person with 429, Retry-After up to the end of the window, and admitted again after it', async () => {
    stack.clock.advance(3600_000);
    const me = await signUp(stack);
    const photo = await fixture('coffee.png');
    const upload = (token: string) => stack.api('POST', '/v1/photos', { token, body: multipart('photo', photo) });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await upload(me.token)).status);
    expect(statuses).toEqual([201, 201, 201]);
    const retry = refusal(await upload(me.token), stack.config.RATE_LIMIT_UPLOADS_WINDOW_SECONDS);
    stack.clock.advance(retry * 1000);
    expect((await upload(me.token)).status).toBe(201);
    // Another person has their own budget (a new sign-in window first: signing up counts there).
    stack.clock.advance(900_000);
    const other = await signUp(stack);
    expect((await upload(other.token)).status).toBe(201);
  });

  it('SC4 rights requests are limited per person with 429 and Retry-After, and admitted again after it', async () => {
    stack.clock.advance(3600_000);
    const me = await signUp(stack);
    const ask = () =>
      stack.api('POST', '/v1/rights-requests', {
        token: me.token,
        json: { kind: 'restriction', purposes: ['analytics'] },
      });
    const statuses = [(await ask()).status, (await ask()).status];
    expect(statuses.every((s) => s < 300)).toBe(true);
    const retry = refusal(await ask(), stack.config.RATE_LIMIT_RIGHTS_WINDOW_SECONDS);
    stack.clock.advance(retry * 1000);
    expect((await ask()).status).toBeLessThan(300);
  });

  it('SC4 inquiries filed without signing in are limited per address on the rights-request budget', async () => {
    const file = () =>
      stack.api('POST', '/v1/inquiries', {
        json: { kind: 'support', subject: 'Hello', message: 'A question.', email: 'asker@example.com' },
      });
    expect([(await file()).status, (await file()).status]).toEqual([201, 201]);
    const retry = refusal(await file(), stack.config.RATE_LIMIT_RIGHTS_WINDOW_SECONDS);
    expect(await stack.ctx.db.selectFrom('inquiries').select('id').execute()).toHaveLength(2);
    stack.clock.advance(retry * 1000);
    expect((await file()).status).toBe(201);
  });

  it('SC4 a signed-in person filing inquiries is counted as themself, not with everyone at their address', async () => {
    const anonymous = () =>
      stack.api('POST', '/v1/inquiries', {
        json: { kind: 'support', subject: 'Hello', message: 'A question.', email: 'asker@example.com' },
      });
    for (let i = 0; i < 10 && (await anonymous()).status !== 429; i++); // this address's budget is used up
    const me = await signUp(stack);
    const mine = () =>
      stack.api('POST', '/v1/inquiries', {
        token: me.token,
        json: { kind: 'privacy', subject: 'My data', message: 'A question.' },
      });
    expect([(await mine()).status, (await mine()).status]).toEqual([201, 201]);
    refusal(await mine(), stack.config.RATE_LIMIT_RIGHTS_WINDOW_SECONDS);
  });
});

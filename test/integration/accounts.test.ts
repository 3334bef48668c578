import { NEWEST_SHIPPED_POLICY_VERSION } from '../../policies';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn, signUp, startStack, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ role: 'api' });
});
afterAll(async () => {
  await stack?.stop();
});

const register = (json: Record<string, unknown>) =>
  stack.api('POST', '/v1/accounts', {
    json: {
      email: `p${Math.random().toString(36).slice(2)}@example.com`,
      name: 'Ada',
      confirms_adult: true,
      accepted_policy_version: NEWEST_SHIPPED_POLICY_VERSION,
      ...json,
    },
  });

describe('accounts', () => {
  it('AC1 requires an email and a name; a phone is optional and must be E.164', async () => {
    const noEmail = await stack.api('POST', '/v1/accounts', {
      json: { name: 'Ada', confirms_adult: true, accepted_policy_version: NEWEST_SHIPPED_POLICY_VERSION },
    });
    expect(noEmail.status).toBe(400);
    expect(noEmail.body.code).toBe('validation_failed');
    expect(noEmail.body.errors.map((e: { path: string }) => e.path)).toContain('body.email');
    expect((await register({ name: '' })).body.code).toBe('validation_failed');
    const badPhone = await register({ phone: '0791234567' });
    expect(badPhone.status).toBe(400);
    expect(badPhone.body.errors[0].message).toMatch(/E\.164/);
    expect((await register({ phone: '+41791234567' })).status).toBe(202);
    expect((await register({})).status).toBe(202);
  });

  it('AC2 a person who does not confirm being 18 or older is refused with a clear error', async () => {
    const before = await stack.ctx.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const res = await register({ confirms_adult: false });
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ code: 'underage', title: 'Rasmi is for adults' });
    const after = await stack.ctx.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
  });

  it('AC3 records the accepted policy version and when it was accepted; an outdated version is refused', async () => {
    const stale = await register({ accepted_policy_version: '2019-01' });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({
      code: 'policy_version_outdated',
      current_policy_version: NEWEST_SHIPPED_POLICY_VERSION,
    });
    const { userId } = await signUp(stack);
    const row = await stack.ctx.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirstOrThrow();
    expect(row.policy_version_id).toBe(NEWEST_SHIPPED_POLICY_VERSION);
    expect(Math.abs(new Date(row.policy_accepted_at).getTime() - stack.clock.now().getTime())).toBeLessThan(5000);
  });

  it('registering an address twice reveals nothing and creates no second account', async () => {
    const { email } = await signUp(stack);
    const again = await stack.api('POST', '/v1/accounts', {
      json: {
        email: email.toUpperCase(),
        name: 'Someone Else',
        confirms_adult: true,
        accepted_policy_version: NEWEST_SHIPPED_POLICY_VERSION,
      },
    });
    expect(again.status).toBe(202);
    const users = await stack.ctx.db.selectFrom('users').select('id').execute();
    expect(new Set(users.map((u) => u.id)).size).toBe(users.length);
  });

  it('sign-in codes work once, expire, and lock after five wrong tries; tokens are stored hashed', async () => {
    const { email, token, userId } = await signUp(stack);
    const session = await stack.ctx.db
      .selectFrom('sessions')
      .selectAll()
      .where('user_id', '=', userId)
      .executeTakeFirstOrThrow();
    expect(session.token_hash).not.toBe(token);
    expect(JSON.stringify(session)).not.toContain(token);

    const codeOf = () => /code is (\d{6})/.exec(stack.postmark.to(email).at(-1)!.TextBody!)![1];
    const exchange = (code: string) => stack.api('POST', '/v1/auth/token', { json: { email, code } });

    // Used once already by signUp.
    const used = /code is (\d{6})/.exec(stack.postmark.to(email)[0].TextBody!)![1];
    expect((await exchange(used)).body.code).toBe('invalid_code');

    await stack.api('POST', '/v1/auth/code', { json: { email } });
    const fresh = codeOf();
    stack.clock.advance((stack.config.SIGN_IN_CODE_TTL_MINUTES + 1) * 60_000);
    expect((await exchange(fresh)).status).toBe(401);

    await stack.api('POST', '/v1/auth/code', { json: { email } });
    const right = codeOf();
    const wrong = right === '000000' ? '111111' : '000000';
    for (let i = 0; i < 5; i++) expect((await exchange(wrong)).status).toBe(401);
    expect((await exchange(right)).status).toBe(401);
  });

  it('an unknown address asking for a code gets the same answer and no email', async () => {
    const sent = stack.postmark.sent.length;
    const res = await stack.api('POST', '/v1/auth/code', { json: { email: 'nobody@example.com' } });
    expect(res.status).toBe(202);
    expect(stack.postmark.sent.length).toBe(sent);
  });

  it('a bearer token works until SESSION_TTL_HOURS after sign-in and is refused from then on', async () => {
    const { token, email, userId } = await signUp(stack);
    const ttl = stack.config.SESSION_TTL_HOURS * 3600_000;
    const session = await stack.ctx.db
      .selectFrom('sessions')
      .selectAll()
      .where('user_id', '=', userId)
      .executeTakeFirstOrThrow();
    expect(new Date(session.expires_at).getTime()).toBe(stack.clock.now().getTime() + ttl);
    stack.clock.advance(ttl - 1000);
    expect((await stack.api('GET', '/v1/me', { token })).status).toBe(200);
    stack.clock.advance(1000);
    const expired = await stack.api('GET', '/v1/me', { token });
    expect(expired.status).toBe(401);
    expect(expired.headers.get('content-type')).toContain('application/problem+json');
    expect(expired.body.code).toBe('unauthorized');
    // Only the token lapsed: signing in again gives a working one.
    expect((await stack.api('GET', '/v1/me', { token: await signIn(stack, email) })).status).toBe(200);
  });
});

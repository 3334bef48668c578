import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkers, type Workers } from '../../core/platform/workers';
import { sweepHandlers } from '../../scheduler/sweeps';
import { privacyHandlers } from '../../worker/privacy';
import { fixture, signUp, startStack, until, type Stack, uploadJudged } from '../support/stack';

let stack: Stack;
let workers: Workers;
let admin: { token: string; userId: string; email: string };

beforeAll(async () => {
  // API only: the test runs the notice sweep itself and counts the runs; the privacy jobs run for real.
  stack = await startStack({ role: 'api', env: { POLICY_NOTICE_BATCH: '2', LOCAL_PAYMENT_AUTO_CONFIRM: 'false' } });
  workers = await startWorkers(stack.ctx, ['privacy'], privacyHandlers);
  admin = await signUp(stack);
  await stack.ctx.db.updateTable('users').set({ role: 'admin' }).where('id', '=', admin.userId).execute();
});
afterAll(async () => {
  await workers?.close();
  await stack?.stop();
});

const current = async () => (await stack.api('GET', '/v1/policy')).body.id as string;
const join = async () => signUp(stack, { accepted_policy_version: await current() });
const publish = async (
  v: { id: string; significant: boolean; material: boolean; text?: string },
  token = admin.token,
) => {
  stack.clock.advance(60_000); // versions are ordered by publication time
  return stack.api('POST', '/v1/staff/policy-versions', {
    token,
    json: { last_updated: '2026-12-01', text: `Privacy Policy ${v.id}\nWe changed things.`, ...v },
  });
};
const sweep = () => sweepHandlers['sweep.policy-notices'](stack.ctx, {}, {} as Job);
const sentCount = async (versionId: string) =>
  Number(
    (
      await stack.ctx.db
        .selectFrom('notifications')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('kind', '=', 'policy-change')
        .where('dedupe_key', 'like', `policy-${versionId}-%`)
        .where('status', '=', 'sent')
        .executeTakeFirstOrThrow()
    ).n,
  );

describe('policy versions', () => {
  it('PO2 a significant change emails every person once, at most POLICY_NOTICE_BATCH per sweep run', async () => {
    const people = [admin, await join(), await join(), await join(), await join()]; // five accounts
    const res = await publish({ id: '2026-12', significant: true, material: false });
    expect(res.status).toBe(201);
    const latecomer = await join(); // registered after the change: already accepted it

    const runs: number[] = [];
    for (let run = 1; run <= 4; run++) {
      await sweep();
      const expected = Math.min(2 * run, 5);
      await until(async () => (await sentCount('2026-12')) === expected, 20_000, `${expected} notices`);
      runs.push(await sentCount('2026-12'));
    }
    // Three runs were needed for five people with a batch of two; the fourth found nobody left.
    expect(runs).toEqual([2, 4, 5, 5]);
    for (const p of people) {
      const mails = stack.postmark.to(p.email).filter((m) => m.Tag === 'policy-change');
      expect(mails).toHaveLength(1);
      expect(mails[0].TextBody).toContain('/app/#/privacy?policy=2026-12');
    }
    expect(stack.postmark.to(latecomer.email).filter((m) => m.Tag === 'policy-change')).toHaveLength(0);

    // A change that is not significant emails nobody.
    await publish({ id: '2026-12b', significant: false, material: false });
    await sweep();
    await new Promise((r) => setTimeout(r, 300));
    expect(await sentCount('2026-12b')).toBe(0);
    expect(await sentCount('2026-12')).toBe(5);
  });

  it("PO1 versions are stored with their 'last updated' date and earlier versions stay retrievable", async () => {
    const first = await stack.api('GET', '/v1/policy/versions/2026-01');
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ id: '2026-01', last_updated: '2026-01-01' });
    expect(first.body.text).toContain('Privacy Policy');

    const res = await publish({ id: '2027-01', significant: false, material: false, text: 'Privacy Policy 2027-01' });
    expect(res.body).toMatchObject({ id: '2027-01', last_updated: '2026-12-01' });
    const now = await stack.api('GET', '/v1/policy');
    expect(now.body).toMatchObject({ id: '2027-01', last_updated: '2026-12-01', text: 'Privacy Policy 2027-01' });
    expect((await stack.api('GET', '/v1/policy/versions/2026-01')).body.text).toBe(first.body.text);

    const all = await stack.api('GET', '/v1/policy/versions?limit=2');
    expect(all.body.items.map((v: { id: string }) => v.id)).toEqual(['2027-01', '2026-12b']);
    const rest = await stack.api('GET', `/v1/policy/versions?limit=2&cursor=${all.body.next_cursor}`);
    expect(rest.body.items.map((v: { id: string }) => v.id)).toEqual(['2026-12', '2026-12-07']);
    const last = await stack.api('GET', `/v1/policy/versions?limit=2&cursor=${rest.body.next_cursor}`);
    expect(last.body.items.map((v: { id: string }) => v.id)).toEqual(['2026-01']);
    expect(last.body.next_cursor).toBeNull();
    expect((await stack.api('GET', '/v1/policy/versions/1999-01')).status).toBe(404);

    // The newest published version is the one registration must accept.
    const stale = await stack.api('POST', '/v1/accounts', {
      json: { email: 'late@example.com', name: 'Late', confirms_adult: true, accepted_policy_version: '2026-01' },
    });
    expect(stale.body).toMatchObject({ code: 'policy_version_outdated', current_policy_version: '2027-01' });
    await join();

    // Published versions are never rewritten, and only admins publish.
    expect((await publish({ id: '2026-01', significant: false, material: false })).body.code).toBe(
      'policy_version_exists',
    );
    const customer = await join();
    expect((await publish({ id: '2027-09', significant: false, material: false }, customer.token)).status).toBe(403);
    expect((await stack.api('POST', '/v1/staff/policy-versions', { json: {} })).status).toBe(401);
  });

  it('PO3 a material change blocks new orders with 409 until the person accepts; they may close the account instead', async () => {
    const person = await join();
    const photo = (await uploadJudged(stack, person.token, await fixture('astronaut.png'))).id;
    const order = () =>
      stack.api('POST', '/v1/orders', {
        token: person.token,
        json: { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [photo] },
      });
    const before = await order();
    expect(before.status).toBe(201);

    await publish({ id: '2027-02', significant: true, material: true });
    const orders = async () =>
      (await stack.ctx.db.selectFrom('orders').select('id').where('user_id', '=', person.userId).execute()).length;
    const blocked = await order();
    expect(blocked.status).toBe(409);
    expect(blocked.body).toMatchObject({ code: 'policy_acceptance_required', policy_version: '2027-02' });
    expect(blocked.body.detail).toMatch(/close your account/);
    expect(blocked.body.links.close_account).toEqual({
      method: 'POST',
      href: '/v1/rights-requests',
      body: { kind: 'deletion' },
    });
    expect(await orders()).toBe(1);

    // A later non-material version does not lift the block; accepting the current version does.
    await publish({ id: '2027-03', significant: false, material: false });
    expect((await order()).body.policy_version).toBe('2027-02');
    expect(
      (await stack.api('POST', '/v1/me/policy-acceptance', { token: person.token, json: { version: '2027-02' } })).body
        .code,
    ).toBe('policy_version_outdated');
    const accepted = await stack.api('POST', '/v1/me/policy-acceptance', {
      token: person.token,
      json: { version: '2027-03' },
    });
    expect(accepted.status).toBe(200);
    const row = await stack.ctx.db
      .selectFrom('users')
      .select(['policy_version_id', 'policy_accepted_at'])
      .where('id', '=', person.userId)
      .executeTakeFirstOrThrow();
    expect(row.policy_version_id).toBe('2027-03');
    expect(new Date(row.policy_accepted_at).getTime()).toBe(stack.clock.now().getTime());

    expect((await order()).status).toBe(201);
    expect(await orders()).toBe(2);
    // Someone who registered after the change accepted it then and is not blocked.
    const newcomer = await join();
    const p2 = (await uploadJudged(stack, newcomer.token, await fixture('astronaut.png'))).id;
    expect(
      (
        await stack.api('POST', '/v1/orders', {
          token: newcomer.token,
          json: { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [p2] },
        })
      ).status,
    ).toBe(201);
  });
});

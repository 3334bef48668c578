import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordConsent } from '../../core/privacy/consent';
import { newId } from '../../core/platform/crypto';
import { startWorkers, type Workers } from '../../core/platform/workers';
import { sweepHandlers } from '../../scheduler/sweeps';
import { privacyHandlers } from '../../worker/privacy';
import { startFakeWhatsApp } from '../support/fake-whatsapp';
import { signUp, startStack, until, type Stack } from '../support/stack';

const HOUR = 3600_000;
let stack: Stack;
let workers: Workers;
let officer: { token: string; userId: string };
let wa: Awaited<ReturnType<typeof startFakeWhatsApp>>;

beforeAll(async () => {
  // API only, so no scheduler runs sweeps behind the test's back; the privacy jobs run for real.
  // One attempt per job makes a failed email deterministic; batch 2 exercises the paging.
  wa = await startFakeWhatsApp('wa-token', '1234567890');
  stack = await startStack({
    role: 'api',
    env: {
      JOB_ATTEMPTS: '1',
      BREACH_NOTICE_BATCH: '2',
      WHATSAPP_API_URL: `${wa.url}/v21.0`,
      WHATSAPP_TOKEN: 'wa-token',
      WHATSAPP_PHONE_NUMBER_ID: '1234567890',
    },
  });
  workers = await startWorkers(stack.ctx, ['privacy'], privacyHandlers);
  officer = await staff('privacy_officer');
});
afterAll(async () => {
  await workers?.close();
  await stack?.stop();
  await wa?.close();
});

async function staff(role: 'support' | 'privacy_officer' | 'admin') {
  const s = await signUp(stack);
  await stack.ctx.db.updateTable('users').set({ role }).where('id', '=', s.userId).execute();
  return s;
}

const sweep = () => sweepHandlers['sweep.breach-notices'](stack.ctx, {}, {} as Job);
const record = (json: unknown, token = officer.token) => stack.api('POST', '/v1/staff/breaches', { token, json });
const progress = async (id: string) =>
  (await stack.api('GET', `/v1/staff/breaches/${id}`, { token: officer.token })).body;
const noticesTo = (email: string, breachId: string) =>
  stack.postmark.to(email).filter((m) => m.Tag === 'breach-notice' && m.TextBody?.includes(breachId));
const teamAlerts = (breachId: string) =>
  stack.postmark
    .to(stack.config.PRIVACY_TEAM_EMAIL)
    .filter((m) => m.Tag === 'breach-escalation' && m.Subject.includes(breachId));

/** Waits until no breach.notify job is waiting or running. */
async function settled() {
  const q = stack.ctx.queues.byName.privacy;
  await until(
    async () => {
      const c = await q.getJobCounts('wait', 'active', 'delayed', 'prioritized');
      return c.wait + c.active + c.delayed + c.prioritized === 0;
    },
    20_000,
    'privacy jobs to settle',
  );
}

describe('breaches', () => {
  it('BR1 records a breach and notifies every affected person exactly once, recording each notice', async () => {
    // One person has a phone and opted in to WhatsApp; one has a phone but did not opt in.
    const people = [
      await signUp(stack, { phone: '+41790000001' }),
      await signUp(stack, { phone: '+41790000002' }),
      await signUp(stack),
    ];
    await recordConsent(stack.ctx, people[0].userId, 'whatsapp', true, 'test');
    const bystander = await signUp(stack);
    const detected = new Date(stack.clock.now().getTime() - HOUR);

    // Access and validation.
    const customer = await signUp(stack);
    const support = await staff('support');
    expect((await stack.api('POST', '/v1/staff/breaches', { json: {} })).status).toBe(401);
    expect(
      (
        await record(
          { description: 'x', detected_at: detected.toISOString(), affected: { all_users: true } },
          customer.token,
        )
      ).body.code,
    ).toBe('forbidden');
    expect(
      (
        await record(
          { description: 'x', detected_at: detected.toISOString(), affected: { all_users: true } },
          support.token,
        )
      ).status,
    ).toBe(403);
    const future = await record({
      description: 'x',
      detected_at: new Date(stack.clock.now().getTime() + HOUR).toISOString(),
      affected: { all_users: true },
    });
    expect(future.status).toBe(422);
    expect(future.body.code).toBe('detected_in_future');
    const nobody = newId('usr');
    const unknown = await record({
      description: 'x',
      detected_at: detected.toISOString(),
      affected: { user_ids: [people[0].userId, nobody] },
    });
    expect(unknown.body).toMatchObject({ code: 'unknown_users', unknown_user_ids: [nobody] });
    expect(await stack.ctx.db.selectFrom('breaches').select('id').execute()).toEqual([]);

    const res = await record({
      description: 'A misconfigured backup bucket exposed account emails.',
      detected_at: detected.toISOString(),
      affected: { user_ids: [...people.map((p) => p.userId), people[0].userId] },
    });
    expect(res.status).toBe(201);
    const id = res.body.id;
    expect(res.body).toMatchObject({ affected: 3, notified: 0, pending: 3, overdue: 0, escalated_at: null });
    expect(new Date(res.body.notify_by).getTime() - detected.getTime()).toBe(stack.config.BREACH_NOTICE_HOURS * HOUR);
    expect(stack.config.BREACH_NOTICE_HOURS).toBe(72);

    await sweep();
    await until(async () => (await progress(id)).notified === 3, 20_000, 'notices sent');
    await sweep(); // a second run finds nothing pending and sends nothing again
    await settled();

    for (const p of people) {
      const mails = noticesTo(p.email, id);
      expect(mails).toHaveLength(1);
      expect(mails[0].TextBody).toContain('misconfigured backup bucket');
    }
    expect(noticesTo(bystander.email, id)).toHaveLength(0);
    const rows = await stack.ctx.db.selectFrom('breach_notices').selectAll().where('breach_id', '=', id).execute();
    expect(rows).toHaveLength(3);
    for (const r of rows) {
      expect(r.status).toBe('notified');
      expect(r.channels).toEqual(r.user_id === people[0].userId ? ['email', 'whatsapp'] : ['email']);
      expect(r.notified_at).not.toBeNull();
    }
    expect(wa.sent.filter((m) => m.to === '41790000001')).toHaveLength(1);
    expect(wa.sent.filter((m) => m.to === '41790000002')).toHaveLength(0);
    expect(await progress(id)).toMatchObject({
      affected: 3,
      notified: 3,
      pending: 0,
      overdue: 0,
      notified_late: 0,
      escalated_at: null,
    });
    expect(teamAlerts(id)).toHaveLength(0);
  });

  it('BR1 escalates to the privacy team once when a notice is still pending 48 hours after detection', async () => {
    const a = await signUp(stack);
    const b = await signUp(stack);
    const detected = stack.clock.now();
    const id = (
      await record({
        description: 'Support mailbox accessed by an unauthorised party.',
        detected_at: detected.toISOString(),
        affected: { user_ids: [a.userId, b.userId] },
      })
    ).body.id;

    // The first email the mail provider receives fails; with one attempt per job, that notice stays pending.
    stack.postmark.failNextRequests(1);
    await sweep();
    await until(
      async () => {
        const p = await progress(id);
        return p.notified === 1 && (await stack.ctx.queues.byName.privacy.getFailedCount()) >= 1;
      },
      20_000,
      'one notice sent and one failed',
    );
    await settled();
    expect(await progress(id)).toMatchObject({ notified: 1, pending: 1, escalated_at: null });
    expect(teamAlerts(id)).toHaveLength(0);

    // 49 hours after detection, the next sweep alerts the team, then re-drives the failed notice.
    stack.clock.set(new Date(detected.getTime() + 49 * HOUR));
    await sweep();
    expect(teamAlerts(id)).toHaveLength(1);
    expect(teamAlerts(id)[0].TextBody).toMatch(/Still pending: 1/);
    expect(teamAlerts(id)[0].TextBody).not.toContain(a.email);
    await until(async () => (await progress(id)).notified === 2, 20_000, 'the failed notice re-driven');
    await sweep();
    await settled();
    expect(teamAlerts(id)).toHaveLength(1);
    const p = await progress(id);
    expect(p).toMatchObject({ affected: 2, notified: 2, pending: 0, overdue: 0 });
    expect(new Date(p.escalated_at).getTime()).toBe(detected.getTime() + 49 * HOUR);
    expect(noticesTo(a.email, id)).toHaveLength(1);
    expect(noticesTo(b.email, id)).toHaveLength(1);
  });

  it('BR1 after the scheduler was down for three days, one sweep notifies every overdue person and nobody twice', async () => {
    const buyers = [await signUp(stack), await signUp(stack), await signUp(stack)];
    const outsider = await signUp(stack);
    const now = stack.clock.now();
    const order = (userId: string, at: Date) => ({
      id: newId('ord'),
      user_id: userId,
      package_id: 'starter',
      styles: '["studio-grey"]',
      status: 'awaiting_payment' as const,
      amount_cents: 100,
      currency: 'usd',
      failure_code: null,
      failure_detail: null,
      created_at: at,
      paid_at: null,
      delivered_at: null,
    });
    const inRange = new Date(now.getTime() - 2 * HOUR);
    await stack.ctx.db
      .insertInto('orders')
      .values([
        ...buyers.map((b) => order(b.userId, inRange)),
        order(buyers[0].userId, inRange),
        order(outsider.userId, new Date(now.getTime() - 30 * HOUR)),
      ])
      .execute();

    const res = await record({
      description: 'Order exports from one day were copied by a former contractor.',
      detected_at: now.toISOString(),
      affected: {
        orders_created_between: { from: new Date(now.getTime() - 3 * HOUR).toISOString(), to: now.toISOString() },
      },
    });
    expect(res.body).toMatchObject({ affected: 3, pending: 3 });
    const id = res.body.id;

    // Nobody sweeps for three days and an hour: every notice is past its 72-hour deadline.
    stack.clock.set(new Date(now.getTime() + 73 * HOUR));
    expect(await progress(id)).toMatchObject({ affected: 3, pending: 3, overdue: 3, notified: 0 });

    await sweep();
    await until(async () => (await progress(id)).pending === 0, 20_000, 'backlog notified');
    await sweep();
    await settled();
    expect(await progress(id)).toMatchObject({ affected: 3, notified: 3, pending: 0, overdue: 0, notified_late: 3 });
    expect((await progress(id)).escalated_at).not.toBeNull();
    for (const b of buyers) expect(noticesTo(b.email, id)).toHaveLength(1);
    expect(noticesTo(outsider.email, id)).toHaveLength(0);
    expect(teamAlerts(id)).toHaveLength(1);
  });

  it('BR1 a breach of every account inserts one notice per account in batches', async () => {
    const accounts = Number(
      (
        await stack.ctx.db
          .selectFrom('users')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
    expect(accounts).toBeGreaterThan(stack.config.BREACH_NOTICE_BATCH * 3);
    const res = await record({
      description: 'Database snapshot leaked.',
      detected_at: stack.clock.now().toISOString(),
      affected: { all_users: true },
    });
    expect(res.body).toMatchObject({ affected: accounts, pending: accounts });
    const ids = await stack.ctx.db
      .selectFrom('breach_notices')
      .select('user_id')
      .where('breach_id', '=', res.body.id)
      .execute();
    expect(new Set(ids.map((r) => r.user_id)).size).toBe(accounts);
  });
});

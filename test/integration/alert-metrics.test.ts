import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../core/platform/crypto';
import { createDb } from '../../core/platform/db';
import { serveMetrics } from '../../core/platform/metrics-server';
import { startWorkers, type Workers } from '../../core/platform/workers';
import { recordBreach } from '../../core/privacy/breaches';
import { createRightsRequest } from '../../core/privacy/rights';
import { modelPath } from '../../models/registry';
import { createSession } from '../../models/session';
import { startScheduler } from '../../scheduler';
import { pipelineHandlers } from '../../worker/handlers';
import { freePort } from '../faults/support';
import { parseExposition, samplesOf } from '../support/prometheus';
import { signUp, startStack, until, type Stack } from '../support/stack';

/**
 * The figures the alerts (deploy/kubernetes/components/monitoring) read, produced by the real code
 * paths: the scheduler role's sweeps, a delivery worker, a model session falling back from CUDA,
 * and deadlines recorded as the API records them. The API role runs no worker, so the privacy jobs
 * the sweeps fan out wait: a backlog. The clock moves; nothing waits for it.
 */
const TOKEN = 'alert-metrics-token-0123456789abcdef';
const HOUR = 3600_000;
let stack: Stack;
let scheduler: Workers;
let delivery: Workers;
let ops: Awaited<ReturnType<typeof serveMetrics>>;

beforeAll(async () => {
  stack = await startStack({ role: 'api', env: { METRICS_TOKEN: TOKEN } });
  ops = await serveMetrics(stack.ctx, 0, '127.0.0.1');
});
afterAll(async () => {
  ops?.server.close();
  await delivery?.close();
  await scheduler?.close();
  await stack?.stop();
});

async function scrape() {
  const res = await fetch(`http://127.0.0.1:${ops.port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  const samples = parseExposition(await res.text());
  const value = (name: string, labels: Record<string, string> = {}) => {
    const found = samplesOf(samples, name, labels);
    expect(found, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
    return found[0].value;
  };
  return { samples, value };
}

describe('what the alerts read', () => {
  it('the nearest BR1, RG3 and RG6 deadlines and the oldest undelivered order, as time moves', async () => {
    let m = await scrape();
    for (const promise of ['BR1', 'RG3', 'RG6'])
      expect(m.value('rasmi_deadline_seconds_left', { promise })).toBe(Infinity);
    expect(m.value('rasmi_order_oldest_undelivered_seconds')).toBe(0);

    const me = await signUp(stack);
    const now = stack.clock.now();
    await recordBreach(stack.ctx, {
      description: 'test breach',
      detectedAt: new Date(now.getTime() - HOUR),
      affected: { user_ids: [me.userId] },
      recordedBy: me.userId,
    });
    await createRightsRequest(stack.ctx, { userId: me.userId, kind: 'deletion', status: 'open' });
    await createRightsRequest(stack.ctx, { userId: me.userId, kind: 'access', status: 'completed' });
    const orderId = newId('ord');
    await stack.ctx.db
      .insertInto('orders')
      .values({
        id: orderId,
        user_id: me.userId,
        package_id: 'professional',
        styles: JSON.stringify(['studio-grey']),
        status: 'processing',
        amount_cents: 2900,
        currency: 'usd',
        failure_code: null,
        failure_detail: null,
        created_at: now,
        paid_at: now,
        delivered_at: null,
      })
      .execute();

    m = await scrape();
    expect(m.value('rasmi_deadline_seconds_left', { promise: 'BR1' })).toBeCloseTo(71 * 3600, -1);
    expect(m.value('rasmi_deadline_seconds_left', { promise: 'RG3' })).toBeCloseTo(30 * 24 * 3600, -1);
    // RG6 is any open rights request: the completed one does not count.
    expect(m.value('rasmi_deadline_seconds_left', { promise: 'RG6' })).toBe(
      m.value('rasmi_deadline_seconds_left', { promise: 'RG3' }),
    );
    expect(m.value('rasmi_order_oldest_undelivered_seconds')).toBeLessThan(5);

    // 60 hours on: the breach notice is due in 11 h (the alert fires under 12 h); the order is late.
    stack.clock.advance(60 * HOUR);
    m = await scrape();
    expect(m.value('rasmi_deadline_seconds_left', { promise: 'BR1' })).toBeCloseTo(11 * 3600, -1);
    expect(m.value('rasmi_order_oldest_undelivered_seconds')).toBeCloseTo(60 * 3600, -1);

    // Delivered and notified: nothing pending, nothing late.
    await stack.ctx.db
      .updateTable('orders')
      .set({ status: 'ready', delivered_at: stack.clock.now() })
      .where('id', '=', orderId)
      .execute();
    await stack.ctx.db
      .updateTable('breach_notices')
      .set({ status: 'notified', notified_at: stack.clock.now() })
      .execute();
    m = await scrape();
    expect(m.value('rasmi_deadline_seconds_left', { promise: 'BR1' })).toBe(Infinity);
    expect(m.value('rasmi_order_oldest_undelivered_seconds')).toBe(0);
  });

  it('when each sweep last finished and how often it runs, from the scheduler role, and the backlog its fan-out leaves', async () => {
    scheduler = await startScheduler(stack.ctx);
    const m = await until(
      async () => {
        const s = await scrape();
        return samplesOf(s.samples, 'rasmi_sweep_last_success_timestamp_seconds').length >= 9 && s;
      },
      60_000,
      'every sweep to run once',
    );
    expect(
      Math.abs(
        m.value('rasmi_sweep_last_success_timestamp_seconds', { sweep: 'breach-notices' }) -
          stack.clock.now().getTime() / 1000,
      ),
    ).toBeLessThan(60);
    expect(m.value('rasmi_sweep_interval_seconds', { sweep: 'breach-notices' })).toBe(60);
    expect(m.value('rasmi_sweep_interval_seconds', { sweep: 'rights-deadlines' })).toBe(3600);
    // Its run fanned out the pending notice and re-drove the open deletion request (both on the
    // privacy queue, which no worker here takes): demand for a worker, in /metrics and /backlog.
    await until(
      async () => (await scrape()).value('rasmi_queue_backlog', { queue: 'privacy' }) >= 1,
      30_000,
      'privacy backlog',
    );
    const res = await fetch(`http://127.0.0.1:${ops.port}/backlog`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    const backlog = (await res.json()) as Record<string, { backlog: number }>;
    expect(backlog.privacy.backlog).toBeGreaterThanOrEqual(1);
    expect(Object.keys(backlog).sort()).toEqual([
      'analysis',
      'delivery',
      'preparation',
      'privacy',
      'rendering',
      'sweeps',
    ]);
    expect((await fetch(`http://127.0.0.1:${ops.port}/backlog`)).status).toBe(401);
  });

  it('a job that failed its last attempt, and none for one that will be retried', async () => {
    const {
      'order.deliver': deliver,
      'order.notify': notify,
      'order.refund': refund,
      'team.webhook': webhook,
    } = pipelineHandlers;
    delivery = await startWorkers(stack.ctx, ['delivery'], {
      'order.deliver': deliver,
      'order.notify': notify,
      'order.refund': refund,
      'team.webhook': webhook,
    });
    const q = stack.ctx.queues.byName.delivery;
    // A payload its schema refuses: the worker fails it, with one attempt (for good) and with two (retried after backoff).
    await q.add('order.deliver', { orderId: 'Not An Id' }, { jobId: 'bad-final', attempts: 1 });
    await q.add(
      'order.notify',
      { orderId: 'Not An Id', status: 'ready' },
      { jobId: 'bad-retried', attempts: 2, backoff: { type: 'fixed', delay: 3_600_000 } },
    );
    await until(
      async () => (await q.getJobState('bad-final')) === 'failed' && (await q.getJobState('bad-retried')) === 'delayed',
      30_000,
      'both to fail once',
    );
    const m = await scrape();
    expect(m.value('rasmi_jobs_failed_for_good_total', { queue: 'delivery', job: 'order.deliver' })).toBe(1);
    // Declared at 0 when the worker started (so Prometheus' increase() sees the first failure).
    expect(m.value('rasmi_jobs_failed_for_good_total', { queue: 'delivery', job: 'order.notify' })).toBe(0);
  });

  it('the execution provider a model session runs on, beside the one configured first', async () => {
    // No CUDA here: a GPU worker's configuration falls back to the CPU, which the GPU alert reads.
    const { provider } = await createSession(modelPath('blazeface-back-256'), { providers: ['cuda', 'cpu'] });
    expect(provider).toBe('cpu');
    const m = await scrape();
    expect(
      m.value('rasmi_model_session_info', {
        model: 'face_detection_back_256x256_barracuda',
        provider: 'cpu',
        preferred: 'cuda',
      }),
    ).toBe(1);
  });

  it('serves what it can while Postgres is down: the figures read from it go, the rest stays', async () => {
    const db = createDb(`postgres://root@127.0.0.1:${await freePort()}/none`, 1);
    const broken = await serveMetrics({ ...stack.ctx, db }, 0, '127.0.0.1');
    try {
      const res = await fetch(`http://127.0.0.1:${broken.port}/metrics`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(res.status).toBe(200);
      const samples = parseExposition(await res.text());
      expect(samplesOf(samples, 'rasmi_deadline_seconds_left')).toEqual([]);
      expect(samplesOf(samples, 'rasmi_order_oldest_undelivered_seconds')[0].value).toBeNaN();
      expect(samplesOf(samples, 'rasmi_queue_backlog')).toHaveLength(6);
      expect(samplesOf(samples, 'rasmi_jobs_failed_for_good_total', { job: 'order.deliver' })[0].value).toBe(1);
    } finally {
      broken.server.close();
      await db.destroy();
    }
    // Postgres back: the figures return.
    expect((await scrape()).value('rasmi_deadline_seconds_left', { promise: 'BR1' })).toBe(Infinity);
  });
});

import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepHandlers, STALLED_AFTER_MINUTES } from '../../scheduler/sweeps';
import { signUp, startStack, until, type Stack } from '../support/stack';
import { activeRender, freePort, orphans, placeOrder, startRedis, waitForOrder } from './support';

let stack: Stack;
let redis: Awaited<ReturnType<typeof startRedis>>;
let port: number;
beforeAll(async () => {
  port = await freePort();
  redis = await startRedis(port);
  stack = await startStack({ role: 'all', env: { REDIS_URL: redis.url, JOB_ATTEMPTS: '3' } });
});
afterAll(async () => {
  await stack?.stop();
  await redis?.kill();
});

describe('Redis restarted in the middle of an order', () => {
  it('workers reconnect, the stalled-orders sweep re-drives the order and it completes', async () => {
    const me = await signUp(stack);
    const orderId = await placeOrder(stack, me.token, ['studio-grey', 'navy-gradient']);
    await activeRender(stack);

    // No persistence: every queued and active job is gone when it comes back.
    await redis.kill();
    redis = await startRedis(port);
    await until(async () => stack.ctx.queues.ping().then(() => true, () => false), 30_000, 'producers to reconnect');
    expect(await stack.ctx.queues.byName.rendering.getJobCounts('wait', 'active', 'delayed')).toEqual({ wait: 0, active: 0, delayed: 0 });

    stack.clock.advance((STALLED_AFTER_MINUTES + 1) * 60_000);
    await sweepHandlers['sweep.stalled-orders'](stack.ctx, {}, {} as Job);
    expect(await waitForOrder(stack, orderId)).toBe('ready');

    const headshots = await stack.ctx.db.selectFrom('headshots').select(['status']).where('order_id', '=', orderId).execute();
    expect(headshots.map((h) => h.status)).toEqual(['rendered', 'rendered']);
    const ready = await until(async () => {
      const m = stack.postmark.to(me.email).filter((x) => x.Tag === 'order-ready');
      return m.length > 0 && m;
    }, 10_000, 'order-ready email');
    expect(ready).toHaveLength(1);
    expect(await orphans(stack)).toEqual({ objectsWithoutRow: [], rowsWithoutObject: [] });

    // Processing resumed for new work too: a second order goes through without any sweep.
    const next = await placeOrder(stack, me.token, ['studio-grey'], 'astronaut.png');
    expect(await waitForOrder(stack, next)).toBe('ready');
  });
});

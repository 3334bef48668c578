import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEDULE } from '../../scheduler';
import { STALLED_AFTER_MINUTES } from '../../scheduler/sweeps';
import { signUp, startStack, until, type Stack } from '../support/stack';
import { activeRender, freePort, orphans, placeOrder, startRedis, waitForOrder } from './support';

let stack: Stack;
let redis: Awaited<ReturnType<typeof startRedis>>;
let port: number;
beforeAll(async () => {
  port = await freePort();
  redis = await startRedis(port);
  stack = await startStack({
    role: 'all',
    env: { REDIS_URL: redis.url, JOB_ATTEMPTS: '3', SCHEDULER_CHECK_SECONDS: '1' },
  });
});
afterAll(async () => {
  await stack?.stop();
  await redis?.kill();
});

describe('Redis restarted in the middle of an order', () => {
  it('workers reconnect, the scheduler registers its sweeps again, the stalled-orders sweep re-drives the order and it completes', async () => {
    const me = await signUp(stack);
    const orderId = await placeOrder(stack, me.token, ['studio-grey', 'navy-gradient']);
    await activeRender(stack);

    // No persistence: every queued and active job, and every job scheduler, is gone when it comes
    // back. While it is down the order's work goes stale (the clock moves past the sweep's limit).
    expect((await stack.ctx.queues.byName.sweeps.getJobSchedulers()).length).toBe(SCHEDULE.length);
    await redis.kill();
    stack.clock.advance((STALLED_AFTER_MINUTES + 1) * 60_000);
    redis = await startRedis(port);
    await until(
      async () =>
        stack.ctx.queues.ping().then(
          () => true,
          () => false,
        ),
      30_000,
      'producers to reconnect',
    );
    expect(await stack.ctx.queues.byName.rendering.getJobCounts('wait', 'active', 'delayed')).toEqual({
      wait: 0,
      active: 0,
      delayed: 0,
    });

    // Nothing here calls a sweep: the scheduler finds its schedulers gone and registers them again,
    // and the stalled-orders sweep's first run re-drives the order.
    await until(
      async () => (await stack.ctx.queues.byName.sweeps.getJobSchedulers()).length === SCHEDULE.length,
      20_000,
      'the job schedulers to be registered again',
    );
    expect(await waitForOrder(stack, orderId)).toBe('ready');

    const headshots = await stack.ctx.db
      .selectFrom('headshots')
      .select(['status'])
      .where('order_id', '=', orderId)
      .execute();
    expect(headshots.map((h) => h.status)).toEqual(['rendered', 'rendered']);
    const ready = await until(
      async () => {
        const m = stack.postmark.to(me.email).filter((x) => x.Tag === 'order-ready');
        return m.length > 0 && m;
      },
      10_000,
      'order-ready email',
    );
    expect(ready).toHaveLength(1);
    expect(await orphans(stack)).toEqual({ objectsWithoutRow: [], rowsWithoutObject: [] });

    // Processing resumed for new work too: a second order goes through without any sweep.
    const next = await placeOrder(stack, me.token, ['studio-grey'], 'astronaut.png');
    expect(await waitForOrder(stack, next)).toBe('ready');
  });
});

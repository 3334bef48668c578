import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp, startStack, until, type Stack } from '../support/stack';
import { activeRender, childEnv, orphans, placeOrder, spawnRole, waitForOrder, type Child } from './support';

// Workers run as child processes so SIGKILL is real; a short BullMQ lock lets the second worker
// take the dead worker's job up within seconds (defaults unchanged in production).
const LOCK = { RENDER_CONCURRENCY: '1', WORKER_LOCK_MS: '3000', WORKER_STALLED_INTERVAL_MS: '1000' };

let stack: Stack;
const children: Child[] = [];
beforeAll(async () => {
  stack = await startStack({ role: 'api', env: { JOB_ATTEMPTS: '3', ...LOCK } });
});
afterAll(async () => {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  await stack?.stop();
});

describe('a worker killed with SIGKILL mid-render', () => {
  it('the render is retried by another worker and the order completes exactly once', async () => {
    const me = await signUp(stack);
    const first = spawnRole('worker', childEnv(stack, LOCK));
    children.push(first);
    const orderId = await placeOrder(stack, me.token, ['studio-grey', 'navy-gradient']);

    const job = await activeRender(stack);
    const pendingBefore = await stack.ctx.db
      .selectFrom('headshots')
      .select('id')
      .where('order_id', '=', orderId)
      .where('status', '=', 'pending')
      .execute();
    expect(pendingBefore.length).toBeGreaterThan(0);
    first.proc.kill('SIGKILL');
    expect((await first.exit).signal).toBe('SIGKILL');

    const second = spawnRole('worker', childEnv(stack, LOCK));
    children.push(second);
    expect(await waitForOrder(stack, orderId)).toBe('ready');

    // The killed job itself was taken up again and finished (not lost, not run twice into two blobs).
    await until(
      async () => (await stack.ctx.queues.byName.rendering.getJob(job.id!))?.finishedOn,
      10_000,
      'killed job to finish',
    );
    const headshots = await stack.ctx.db.selectFrom('headshots').selectAll().where('order_id', '=', orderId).execute();
    expect(headshots).toHaveLength(2);
    expect(headshots.every((h) => h.status === 'rendered' && h.blob_id)).toBe(true);
    const headshotBlobs = await stack.ctx.db
      .selectFrom('blobs')
      .select('id')
      .where('user_id', '=', me.userId)
      .where('bucket', '=', stack.config.S3_BUCKET_HEADSHOTS)
      .execute();
    expect(headshotBlobs).toHaveLength(2);

    const ready = await until(
      async () => {
        const m = stack.postmark.to(me.email).filter((x) => x.Tag === 'order-ready');
        return m.length > 0 && m;
      },
      10_000,
      'order-ready email',
    );
    await new Promise((r) => setTimeout(r, 1500)); // a duplicate delivery would land within this
    expect(stack.postmark.to(me.email).filter((x) => x.Tag === 'order-ready')).toHaveLength(ready.length);
    expect(ready).toHaveLength(1);

    expect(await orphans(stack)).toEqual({ objectsWithoutRow: [], rowsWithoutObject: [] });
    second.proc.kill('SIGTERM');
    expect((await second.exit).code).toBe(0);
  });
});

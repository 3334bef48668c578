import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, signUp, startStack, until, type Stack } from '../support/stack';
import { DAY_MS } from '../../core/platform/config';
import {
  activeRender,
  childEnv,
  exitWithin,
  freePort,
  holdRowLock,
  placeOrder,
  spawnRole,
  type Child,
} from './support';

let stack: Stack;
const children: Child[] = [];
const releases: (() => Promise<void>)[] = [];
beforeAll(async () => {
  stack = await startStack({ role: 'api' });
});
afterAll(async () => {
  for (const release of releases) await release().catch(() => {});
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  await stack?.stop();
});

describe('SIGTERM during work', () => {
  it('a worker finishes the render it holds and exits 0', async () => {
    const me = await signUp(stack);
    const worker = spawnRole('worker', childEnv(stack, { RENDER_CONCURRENCY: '1' }));
    children.push(worker);
    const orderId = await placeOrder(stack, me.token, ['studio-grey']);
    const job = await activeRender(stack);
    worker.proc.kill('SIGTERM');
    const { code } = await worker.exit;
    expect(code, worker.output()).toBe(0);
    const h = await stack.ctx.db
      .selectFrom('headshots')
      .select(['status', 'blob_id'])
      .where('id', '=', job.data.headshotId)
      .executeTakeFirstOrThrow();
    expect(h.status).toBe('rendered');
    expect(h.blob_id).toBeTruthy();
    expect((await stack.ctx.queues.byName.rendering.getJob(job.id!))?.finishedOn).toBeTruthy();
    expect(orderId).toBeTruthy();
  });

  it('an API finishes the request in flight and exits 0', async () => {
    const me = await signUp(stack);
    const port = await freePort();
    const api = spawnRole('api', childEnv(stack, { PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` }));
    children.push(api);
    await until(
      async () =>
        fetch(`http://127.0.0.1:${port}/healthz`).then(
          (r) => r.ok,
          () => false,
        ),
      30_000,
      'api child to listen',
    );

    // A multipart upload whose body we hold back until after SIGTERM.
    const photo = await fixture('astronaut.png');
    const boundary = 'faultboundary';
    const head = Buffer.from(
      `--${boundary}\r\ncontent-disposition: form-data; name="photo"; filename="a.png"\r\ncontent-type: image/png\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const req = http.request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/v1/photos',
      agent: false,
      headers: {
        authorization: `Bearer ${me.token}`,
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': head.length + photo.length + tail.length,
      },
    });
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req.on('response', (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
    });
    req.write(head);
    req.write(photo.subarray(0, 1000));
    await new Promise((r) => setTimeout(r, 300));
    api.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    req.end(Buffer.concat([photo.subarray(1000), tail]));

    const res = await response;
    expect(res.status, res.body).toBe(201);
    const { code } = await api.exit;
    expect(code, api.output()).toBe(0);
    const id = JSON.parse(res.body).id as string;
    expect(await stack.ctx.db.selectFrom('photos').select('id').where('id', '=', id).executeTakeFirst()).toBeTruthy();
  });

  it('a scheduler finishes the sweep it holds, takes no other, and exits 0', async () => {
    const sweeps = stack.ctx.queues.byName.sweeps;
    // Due work for the usage-data sweep (RT6): one analytics event past retention by the real clock
    // the child runs on. The test locks that row, so the sweep's delete waits inside Postgres and
    // its job stays active for as long as the test wants.
    const eventId = `ae_sigterm_${Date.now()}`;
    await stack.ctx.db
      .insertInto('analytics_events')
      .values({
        id: eventId,
        visitor_id: 'v_sigterm',
        user_id: null,
        name: 'page_view',
        path: '/',
        ip_truncated: null,
        browser: null,
        device: null,
        occurred_at: new Date(Date.now() - (stack.config.USAGE_DATA_RETENTION_DAYS + 1) * DAY_MS),
      })
      .execute();
    const lock = await holdRowLock(stack.config.DATABASE_URL, 'analytics_events', eventId);
    releases.push(lock.release);

    // debug: the child logs 'shutting down' and each 'job done' with its job id.
    const scheduler = spawnRole('scheduler', childEnv(stack, { LOG_LEVEL: 'debug', SWEEP_CONCURRENCY: '1' }));
    children.push(scheduler);
    const job = await until(
      async () => (await sweeps.getJobs(['active'])).find((j) => j.name === 'sweep.usage-data'),
      30_000,
      'the usage-data sweep to be active',
    );
    const waiting = await until(
      async () => (await lock.blocked()).find((b) => /delete from "analytics_events"/i.test(b.query)),
      15_000,
      'the sweep to wait on the row lock',
    );
    expect(waiting.pid).not.toBe(lock.pid);

    const signalled = Date.now();
    scheduler.proc.kill('SIGTERM');
    await until(
      async () => scheduler.output().includes('shutting down: finishing active jobs'),
      10_000,
      'the scheduler to begin shutting down',
    );
    // Still inside the sweep when the shutdown began: the signal came during work.
    expect(await sweeps.getJobState(job.id!)).toBe('active');
    expect(scheduler.proc.exitCode).toBeNull();
    const queued = (await sweeps.getJobs(['waiting'])).map((j) => j.id!);
    await lock.release();

    const exit = await exitWithin(scheduler, 15_000);
    const exitMs = Date.now() - signalled;
    console.info(
      `scheduler exited ${exit.code} ${exitMs} ms after SIGTERM (${exit.ms} ms after the lock was released); ${queued.length} sweeps left queued`,
    );
    expect(exit.code, scheduler.output()).toBe(0);
    expect(exit.signal).toBeNull();

    // The sweep it held finished: completed in the queue, its work done in Postgres, logged as done.
    const after = await sweeps.getJob(job.id!);
    expect(await sweeps.getJobState(job.id!)).toBe('completed');
    expect(after?.finishedOn).toBeTruthy();
    expect(after?.failedReason).toBeFalsy();
    expect(
      await stack.ctx.db.selectFrom('analytics_events').select('id').where('id', '=', eventId).executeTakeFirst(),
    ).toBeUndefined();
    expect(
      await stack.ctx.db
        .selectFrom('deletion_records')
        .select('id')
        .where('reason', '=', 'retention:usage-data')
        .executeTakeFirst(),
    ).toBeTruthy();
    expect(scheduler.output()).toContain(`"jobId":"${job.id}"`);
    // Nothing failed, nothing left active under a lock nobody renews; sweeps it had not started stay queued.
    expect(await sweeps.getJobs(['failed'])).toEqual([]);
    expect(await sweeps.getJobs(['active'])).toEqual([]);
    for (const id of queued) expect(await sweeps.getJobState(id), id).toBe('waiting');
    expect(scheduler.output()).not.toContain('job failed');
  });
});

import { randomBytes } from 'node:crypto';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueBacklog } from '../../core/platform/backlog';
import { loadConfig } from '../../core/platform/config';
import { Queues, redisConnection } from '../../core/platform/jobs';

/**
 * The backlog KEDA scales workers on, read from BullMQ's keys on the local redis-server (own
 * prefix). Jobs are put in each state by BullMQ itself: added, delayed, taken by a worker's
 * getNextJob (active, with a lock), paused. A killed worker's lock lapses after WORKER_LOCK_MS;
 * deleting the lock key is that lapse without waiting for it.
 */
const config = loadConfig({ NODE_ENV: 'test', QUEUE_PREFIX: `tb${randomBytes(4).toString('hex')}` });
let queues: Queues;
let redis: Redis;
const workers: Worker[] = [];

beforeAll(() => {
  queues = new Queues(config);
  redis = new Redis(config.REDIS_URL);
});
afterAll(async () => {
  for (const w of workers) await w.close(true);
  await queues.close();
  const keys = await redis.keys(`${config.QUEUE_PREFIX}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

/** A worker that takes one job by hand (no processor, no stalled-job check of its own). */
async function takeOne(queue: string) {
  const w = new Worker(queue, null, {
    connection: redisConnection(config, true),
    prefix: config.QUEUE_PREFIX,
    lockDuration: 60_000,
  });
  workers.push(w);
  const job = await w.getNextJob(`token-${queue}`, { block: false });
  if (!job?.id) throw new Error(`no job to take on ${queue}`);
  return job;
}

describe('queue backlog: what needs a worker now', () => {
  it('counts waiting and prioritized jobs, delayed ones once due, and active ones whose lock has lapsed', async () => {
    const q = queues.byName.rendering;
    const now = new Date();
    for (const id of ['a', 'b', 'c'])
      await queues.enqueue('headshot.render', { headshotId: `hsh_${id}` }, { jobId: `render-${id}` });
    await q.add('headshot.render', { headshotId: 'hsh_p' }, { jobId: 'render-p', priority: 5 });
    // A retry waiting out its backoff: not demand until it is due, then demand though no worker promoted it.
    await queues.enqueue('headshot.render', { headshotId: 'hsh_d' }, { jobId: 'render-d', delay: 60_000 });

    // Two taken by workers: one keeps its lock (running), the other's worker is gone.
    const running = await takeOne('rendering');
    const orphan = await takeOne('rendering');
    await redis.del(`${q.toKey(orphan.id!)}:lock`);
    expect(await q.getJobState(orphan.id!)).toBe('active');

    const before = await queueBacklog(redis, q, now);
    expect(before).toMatchObject({
      paused: false,
      waiting: 1,
      prioritized: 1,
      delayedDue: 0,
      orphaned: 1,
      running: 1,
      backlog: 3,
    });
    // The same figures as BullMQ's own getters, read at the same instant's cut-off for `delayed`.
    const counts = await q.getJobCounts('wait', 'prioritized', 'active', 'delayed');
    expect([counts.wait, counts.prioritized, counts.active, counts.delayed]).toEqual([
      before.waiting,
      before.prioritized,
      before.orphaned + before.running,
      1,
    ]);

    const later = new Date(now.getTime() + 61_000);
    const due = await queueBacklog(redis, q, later);
    expect(due).toMatchObject({ delayedDue: 1, backlog: 4 });
    expect(due.delayedDue).toBe(await q.getDelayedCount(later.getTime() + 1));
    // The longest-ready job: the orphan's (taken at about `now`) or the first waiting one, 61 s ago.
    expect(due.oldestSeconds).toBeGreaterThanOrEqual(60);
    expect(due.oldestSeconds).toBeLessThan(600);

    // The running job finishing leaves the backlog as it was.
    await running.moveToCompleted('done', 'token-rendering', false);
    expect((await queueBacklog(redis, q, later)).backlog).toBe(4);
  });

  it('a paused queue is no demand, though its jobs stay where they were', async () => {
    const q = queues.byName.analysis;
    for (const id of ['a', 'b'])
      await queues.enqueue('photo.analyse', { photoId: `pho_${id}` }, { jobId: `analyse-${id}` });
    await queues.enqueue('photo.analyse', { photoId: 'pho_d' }, { jobId: 'analyse-d', delay: 1_000 });
    const now = new Date(Date.now() + 5_000);
    expect((await queueBacklog(redis, q, now)).backlog).toBe(3);

    await q.pause();
    const paused = await queueBacklog(redis, q, now);
    expect(paused).toMatchObject({ paused: true, backlog: 0, waiting: 2, delayedDue: 1 });
    // BullMQ's pause only sets a flag: the wait list keeps its length (what a list-length scaler reads).
    expect(await redis.llen(q.keys.wait)).toBe(2);
    expect(paused.oldestSeconds).toBeGreaterThan(0);

    await q.resume();
    expect((await queueBacklog(redis, q, now)).backlog).toBe(3);
  });

  it('an empty queue has no backlog and no age', async () => {
    expect(await queueBacklog(redis, queues.byName.privacy, new Date())).toEqual({
      backlog: 0,
      paused: false,
      waiting: 0,
      prioritized: 0,
      delayedDue: 0,
      orphaned: 0,
      running: 0,
      oldestSeconds: 0,
    });
  });
});

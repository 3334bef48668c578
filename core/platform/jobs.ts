import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { z } from 'zod';
import type { Config } from './config';
import { QUEUE_NAMES, type QueueName } from './queues';
import { redisOptions } from './redis';

export { QUEUE_NAMES, type QueueName };

/**
 * The one registry of jobs: each names its queue (queues.ts), and a job that may wait behind the
 * others of its queue a priority. Payloads carry ids only, never personal data (RT6), and are
 * checked against their schema inside the worker.
 */
const id = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z]+_[0-9a-z]+$/);

export const JOBS = {
  'photo.prepare': { queue: 'preparation', payload: z.object({ photoId: id }) },
  'photo.analyse': { queue: 'analysis', payload: z.object({ photoId: id }) },
  // After the verdict, on the same queue: a verdict someone waits for is taken before it (priority).
  'photo.prepare-render': { queue: 'analysis', payload: z.object({ photoId: id }), priority: 10 },
  'headshot.render': { queue: 'rendering', payload: z.object({ headshotId: id }) },
  'order.deliver': { queue: 'delivery', payload: z.object({ orderId: id }) },
  'order.refund': { queue: 'delivery', payload: z.object({ orderId: id }) },
  'order.notify': {
    queue: 'delivery',
    payload: z.object({ orderId: id, status: z.enum(['received', 'processing', 'ready', 'failed']) }),
  },
  'sweep.stalled-orders': { queue: 'sweeps', payload: z.object({}) },
  'sweep.retention': { queue: 'sweeps', payload: z.object({}) },
  'retention.delete-photos': { queue: 'privacy', payload: z.object({ photoIds: z.array(id).min(1).max(500) }) },
  'retention.delete-headshots': { queue: 'privacy', payload: z.object({ headshotIds: z.array(id).min(1).max(500) }) },
  'retention.delete-user': { queue: 'privacy', payload: z.object({ userId: id }) },
  'retention.warn-user': { queue: 'privacy', payload: z.object({ userId: id }) },
  'retention.purge-payments': { queue: 'privacy', payload: z.object({ paymentIds: z.array(id).min(1).max(500) }) },
  'sweep.breach-notices': { queue: 'sweeps', payload: z.object({}) },
  'breach.notify': { queue: 'privacy', payload: z.object({ breachId: id, userId: id }) },
  'sweep.policy-notices': { queue: 'sweeps', payload: z.object({}) },
  'policy.notify': {
    queue: 'privacy',
    payload: z.object({ versionId: z.string().regex(/^[A-Za-z0-9._-]{1,32}$/), userId: id }),
  },
  'sweep.inquiry-deadlines': { queue: 'sweeps', payload: z.object({}) },
  'marketing.fanout': { queue: 'privacy', payload: z.object({ campaignId: id }) },
  'marketing.send': { queue: 'privacy', payload: z.object({ userId: id, campaignId: id }) },
  'consent.apply-withdrawal': {
    queue: 'privacy',
    payload: z.object({ userId: id, purpose: z.enum(['marketing', 'portfolio']) }),
  },
  'sweep.usage-data': { queue: 'sweeps', payload: z.object({}) },
  'sweep.consent-withdrawals': { queue: 'sweeps', payload: z.object({}) },
  'rights.export': { queue: 'privacy', payload: z.object({ requestId: id }) },
  'rights.delete': { queue: 'privacy', payload: z.object({ requestId: id }) },
  'sweep.rights-deadlines': { queue: 'sweeps', payload: z.object({}) },
  'sweep.rights-exports': { queue: 'sweeps', payload: z.object({}) },
  'team.webhook': { queue: 'delivery', payload: z.object({ deliveryId: id }) },
  'sweep.team-webhooks': { queue: 'sweeps', payload: z.object({}) },
  'sweep.team-reminders': { queue: 'sweeps', payload: z.object({}) },
} as const satisfies Record<string, { queue: QueueName; payload: z.ZodType; priority?: number }>;

export type JobName = keyof typeof JOBS;
export type JobPayload<N extends JobName> = z.infer<(typeof JOBS)[N]['payload']>;

export function queueOf(name: JobName): QueueName {
  return JOBS[name].queue;
}

/** BullMQ's connection options: REDIS_URL as every connection reads it (core/platform/redis.ts). */
export function redisConnection(config: Config, forWorker: boolean): ConnectionOptions {
  return {
    ...redisOptions(config),
    // Workers must wait out a Redis blip rather than fail; producers fail fast.
    maxRetriesPerRequest: forWorker ? null : 1,
    enableOfflineQueue: forWorker,
  };
}

export function defaultJobOptions(config: Config): JobsOptions {
  return {
    attempts: config.JOB_ATTEMPTS,
    backoff: { type: 'exponential', delay: 2000, jitter: 0.5 },
    removeOnComplete: { age: config.JOB_KEEP_COMPLETED_SECONDS },
    removeOnFail: { age: config.JOB_KEEP_FAILED_SECONDS },
  };
}

/** Producer side: one Queue per workload, typed enqueue. */
export class Queues {
  readonly byName: Record<QueueName, Queue>;

  constructor(config: Config) {
    const connection = redisConnection(config, false);
    const defaults = defaultJobOptions(config);
    this.byName = Object.fromEntries(
      QUEUE_NAMES.map((q) => [
        q,
        new Queue(q, { connection, prefix: config.QUEUE_PREFIX, defaultJobOptions: defaults }),
      ]),
    ) as Record<QueueName, Queue>;
  }

  /** jobId makes the job idempotent: BullMQ ignores a second add with the same id. */
  async enqueue<N extends JobName>(
    name: N,
    payload: JobPayload<N>,
    opts: { jobId?: string; delay?: number } = {},
  ): Promise<void> {
    const def = JOBS[name];
    const data = def.payload.parse(payload);
    // BullMQ takes jobs without a priority before any with one; a lower number goes first among those.
    await this.byName[queueOf(name)].add(name, data, 'priority' in def ? { priority: def.priority, ...opts } : opts);
  }

  /**
   * For sweeps that re-drive work Postgres says is unfinished: like enqueue, but a job with this
   * id that already failed for good (kept for JOB_KEEP_FAILED_SECONDS, which would make enqueue a
   * no-op) is retried, so an outage longer than the job's attempts does not strand the work.
   */
  async redrive<N extends JobName>(name: N, payload: JobPayload<N>, jobId: string): Promise<void> {
    const existing = await this.byName[queueOf(name)].getJob(jobId);
    if (existing && (await existing.isFailed()))
      await existing.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    else await this.enqueue(name, payload, { jobId });
  }

  /**
   * Whether the job with this id is still to finish (waiting, delayed or running). One that waits
   * behind lower-priority work is moved to the front of its kind (priority 1): someone is waiting
   * for it now.
   */
  async hurry(name: JobName, jobId: string): Promise<boolean> {
    const job = await this.byName[queueOf(name)].getJob(jobId);
    const state = job ? await job.getState() : 'unknown';
    if (state === 'prioritized' && job!.priority > 1) await job!.changePriority({ priority: 1 });
    return ['waiting', 'prioritized', 'delayed', 'active'].includes(state);
  }

  async ping(): Promise<void> {
    await this.byName.analysis.getJobCounts('wait');
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.byName).map((q) => q.close()));
  }
}

/** BullMQ job ids may not contain ':'; build them from ids joined by '-'. */
export function jobId(...parts: string[]): string {
  return parts.join('-');
}

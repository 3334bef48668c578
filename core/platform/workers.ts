import { Worker, type Job } from 'bullmq';
import type { AppContext } from './context';
import { JOBS, redisConnection, type JobName, type JobPayload, type QueueName } from './jobs';
import { declareJob, observeJob, observeJobFailedForGood } from './metrics';

/** A job's handler: the worker hands it the context and the payload, checked against its schema. */
/** `token` is the worker's lock on the job, for moving it back to the delayed set (`job.moveToDelayed`). */
export type Handler<N extends JobName> = (
  ctx: AppContext,
  data: JobPayload<N>,
  job: Job,
  token?: string,
) => Promise<void>;
/** Exactly the handlers of the jobs on queues Q: the compiler checks none is missing. */
export type HandlersFor<Q extends QueueName> = {
  [N in JobName as (typeof JOBS)[N]['queue'] extends Q ? N : never]: Handler<N>;
};

/** Fails start-up unless every job of these queues has exactly one handler. */
export function checkHandlers(handlers: Record<string, unknown>, queues: readonly QueueName[]): void {
  const expected = Object.entries(JOBS)
    .filter(([, d]) => queues.includes(d.queue))
    .map(([n]) => n);
  const missing = expected.filter((n) => typeof handlers[n] !== 'function');
  const unknown = Object.keys(handlers).filter((n) => !expected.includes(n));
  if (missing.length || unknown.length) {
    throw new Error(
      `job handlers do not match the registry: missing [${missing.join(', ')}], unknown [${unknown.join(', ')}]`,
    );
  }
}

export function concurrencyOf(ctx: AppContext, queue: QueueName): number {
  const c = ctx.config;
  return {
    preparation: c.PREPARE_CONCURRENCY,
    analysis: c.ANALYSIS_CONCURRENCY,
    rendering: c.RENDER_CONCURRENCY,
    delivery: c.DELIVERY_CONCURRENCY,
    privacy: c.PRIVACY_CONCURRENCY,
    sweeps: c.SWEEP_CONCURRENCY,
  }[queue];
}

export interface Workers {
  workers: Worker[];
  close(): Promise<void>;
}

/**
 * One BullMQ Worker per queue with its configured concurrency. The worker role runs the photo
 * pipeline's queues and the scheduler role the sweeps queue; the API role runs none.
 * Payloads are checked against their schema here, inside the worker.
 */
export async function startWorkers(
  ctx: AppContext,
  queues: readonly QueueName[],
  handlers: Record<string, unknown>,
): Promise<Workers> {
  checkHandlers(handlers, queues);
  const connection = redisConnection(ctx.config, true);
  for (const name of Object.keys(handlers)) declareJob(JOBS[name as JobName].queue, name);
  const workers = queues.map((queue) => {
    const w = new Worker(
      queue,
      async (job: Job, token?: string) => {
        const name = job.name as JobName;
        const def = JOBS[name];
        if (!def || def.queue !== queue) throw new Error(`job ${job.name} does not belong on queue ${queue}`);
        const data = def.payload.parse(job.data);
        const started = Date.now();
        await (handlers[name] as (c: AppContext, d: unknown, j: Job, t?: string) => Promise<void>)(
          ctx,
          data,
          job,
          token,
        );
        ctx.logger.debug({ queue, job: name, jobId: job.id, ms: Date.now() - started }, 'job done');
        observeJob(queue, name, 'completed', (Date.now() - started) / 1000);
      },
      {
        connection,
        prefix: ctx.config.QUEUE_PREFIX,
        concurrency: concurrencyOf(ctx, queue),
        lockDuration: ctx.config.WORKER_LOCK_MS,
        stalledInterval: ctx.config.WORKER_STALLED_INTERVAL_MS,
      },
    );
    w.on('failed', (job, err) =>
      ctx.logger.warn(
        { queue, job: job?.name, jobId: job?.id, attempt: job?.attemptsMade, err: err.message },
        'job failed',
      ),
    );
    w.on('error', (err) => ctx.logger.error({ queue, err: err.message }, 'worker error'));
    w.on('failed', (job, err) => {
      if (!job) return;
      observeJob(
        queue,
        job.name,
        'failed',
        Math.max(0, (job.finishedOn ?? Date.now()) - (job.processedOn ?? Date.now())) / 1000,
      );
      // No retry follows: its attempts are spent, or it threw UnrecoverableError.
      if (job.attemptsMade >= (job.opts.attempts ?? 1) || err.name === 'UnrecoverableError')
        observeJobFailedForGood(queue, job.name);
    });
    return w;
  });
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  ctx.logger.info({ queues }, 'workers started');
  return {
    workers,
    // Lets active jobs finish before returning (worker.close() on SIGTERM).
    close: async () => {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}

import type { AppContext } from '../core/platform/context';
import type { JobName } from '../core/platform/jobs';
import { recordSweepSuccess } from '../core/platform/sweep-runs';
import { startWorkers, type Workers } from '../core/platform/workers';
import { sweepHandlers } from './sweeps';

/** Every sweep and how often it runs (UTC). upsertJobScheduler is safe to call at every start. */
export const SCHEDULE: { job: JobName; everyMs: number }[] = [
  { job: 'sweep.stalled-orders', everyMs: 60_000 },
  { job: 'sweep.retention', everyMs: 15 * 60_000 },
  { job: 'sweep.usage-data', everyMs: 60 * 60_000 },
  { job: 'sweep.consent-withdrawals', everyMs: 5 * 60_000 },
  { job: 'sweep.rights-deadlines', everyMs: 60 * 60_000 },
  { job: 'sweep.rights-exports', everyMs: 60 * 60_000 },
  { job: 'sweep.breach-notices', everyMs: 60_000 },
  { job: 'sweep.policy-notices', everyMs: 5 * 60_000 },
  { job: 'sweep.inquiry-deadlines', everyMs: 5 * 60_000 },
  { job: 'sweep.team-webhooks', everyMs: 60_000 },
  { job: 'sweep.team-reminders', everyMs: 60 * 60_000 },
];

/** The scheduler role: registers the job schedulers, keeps them registered, and runs the sweeps queue. */
export async function startScheduler(ctx: AppContext): Promise<Workers> {
  const queue = ctx.queues.byName.sweeps;
  const register = (s: (typeof SCHEDULE)[number]) =>
    queue.upsertJobScheduler(
      s.job,
      { every: s.everyMs },
      {
        name: s.job,
        data: {},
        opts: { removeOnComplete: { count: 100 }, removeOnFail: { age: ctx.config.JOB_KEEP_FAILED_SECONDS } },
      },
    );
  for (const s of SCHEDULE) await register(s);
  ctx.logger.info({ sweeps: SCHEDULE.map((s) => s.job) }, 'job schedulers registered');
  // Schedules live in Redis: a Redis that came back without its data (no AOF, a failover to an
  // empty replica, a flush) has none, and nothing would sweep again. Deadlines live in Postgres, so
  // registering the missing schedulers again (each runs at once) is all it takes to catch up.
  let checking = false;
  const check = setInterval(async () => {
    if (checking) return;
    checking = true;
    try {
      const present = new Set((await queue.getJobSchedulers()).map((j) => j.key));
      const missing = SCHEDULE.filter((s) => !present.has(s.job));
      for (const s of missing) await register(s);
      if (missing.length)
        ctx.logger.warn(
          { sweeps: missing.map((s) => s.job) },
          'job schedulers were missing from Redis; registered again',
        );
    } catch (err) {
      ctx.logger.warn({ err: (err as Error).message }, 'could not check the job schedulers; trying again');
    } finally {
      checking = false;
    }
  }, ctx.config.SCHEDULER_CHECK_SECONDS * 1000);
  const workers = await startWorkers(ctx, ['sweeps'], sweepHandlers);
  // Read by every role's /metrics: a sweep that stopped is seen even while this role is down.
  for (const w of workers.workers) {
    w.on('completed', (job) => {
      recordSweepSuccess(ctx.redis, ctx.config.QUEUE_PREFIX, job.name, ctx.clock.now()).catch((err: Error) =>
        ctx.logger.warn({ err: err.message, sweep: job.name }, 'could not record the sweep run'),
      );
    });
  }
  return {
    ...workers,
    close: async () => {
      clearInterval(check);
      await workers.close();
    },
  };
}

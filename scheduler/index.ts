import type { AppContext } from '../core/context';
import type { JobName } from '../core/jobs';
import { startWorkers, type Workers } from '../core/workers';
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
];

/** The scheduler role: registers the job schedulers and runs the sweeps queue. */
export async function startScheduler(ctx: AppContext): Promise<Workers> {
  const queue = ctx.queues.byName.sweeps;
  for (const s of SCHEDULE) {
    await queue.upsertJobScheduler(s.job, { every: s.everyMs }, { name: s.job, data: {}, opts: { removeOnComplete: { count: 100 }, removeOnFail: { age: ctx.config.JOB_KEEP_FAILED_SECONDS } } });
  }
  ctx.logger.info({ sweeps: SCHEDULE.map((s) => s.job) }, 'job schedulers registered');
  return startWorkers(ctx, ['sweeps'], sweepHandlers);
}

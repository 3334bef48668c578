import type { AppContext } from './context';
import { JOBS, queueOf, type JobName, type JobPayload } from './jobs';

/**
 * Adds one page of per-item jobs with fixed ids in a single round trip. BullMQ ignores an add
 * whose id already exists, so a sweep that runs again before the jobs finish adds nothing twice.
 */
export async function fanOut<N extends JobName>(
  ctx: AppContext,
  name: N,
  items: { jobId: string; data: JobPayload<N> }[],
): Promise<void> {
  if (!items.length) return;
  await ctx.queues.byName[queueOf(name)].addBulk(
    items.map((i) => ({ name, data: JOBS[name].payload.parse(i.data), opts: { jobId: i.jobId } })),
  );
}

/**
 * A job that failed all its attempts stays in the failed set (JOB_KEEP_FAILED_SECONDS) and, with a
 * fixed id, would block its item from being added again; so a sweep puts its failed jobs back in
 * the queue. Handlers check their item is still due, so a retry of finished work does nothing.
 */
export async function retryFailed(ctx: AppContext, name: JobName, max = 1000): Promise<number> {
  const queue = ctx.queues.byName[queueOf(name)];
  const failed = (await queue.getFailed(0, max - 1)).filter((j) => j.name === name);
  let retried = 0;
  for (const job of failed) {
    try {
      await job.retry('failed', { resetAttemptsMade: true });
      retried++;
    } catch {
      // Retried or removed meanwhile by another sweep: nothing to do.
    }
  }
  return retried;
}

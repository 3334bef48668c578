import type { Queues } from '../../core/platform/jobs';

/** Every job in every queue, in any state: what a request or a run left behind. */
export async function countJobs(queues: Queues): Promise<number> {
  let jobs = 0;
  for (const q of Object.values(queues.byName)) {
    const c = await q.getJobCounts(
      'wait',
      'active',
      'delayed',
      'completed',
      'failed',
      'prioritized',
      'waiting-children',
    );
    jobs += Object.values(c).reduce((a, b) => a + b, 0);
  }
  return jobs;
}

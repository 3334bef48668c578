import { DAY_MS } from '../core/platform/config';
import type { AppContext } from '../core/platform/context';
import { sweepStaleSpools } from '../core/platform/storage';
import { JOBS, type JobName } from '../core/platform/jobs';
import { startWorkers, type Workers } from '../core/platform/workers';
import { closePixels, pipelineHandlers } from './handlers';
import { PIPELINE_QUEUES } from '../core/platform/queues';

/** The worker role: the photo pipeline's queues (preparation, analysis, rendering, delivery) and privacy jobs, or those of WORKER_QUEUES. */
export async function startPipelineWorkers(ctx: AppContext): Promise<Workers> {
  // Spools of exports a killed worker was writing (ciphertext, but disk all the same). An export
  // spools for minutes at most, so a day untouched is abandoned, whoever shares the directory.
  const swept = await sweepStaleSpools(DAY_MS);
  if (swept) ctx.logger.info({ swept }, 'removed spool folders a stopped process left behind');
  // WORKER_QUEUES narrows the queues (and so the handlers) this process takes; empty: all of them.
  const queues = ctx.config.WORKER_QUEUES.length
    ? PIPELINE_QUEUES.filter((q) => ctx.config.WORKER_QUEUES.includes(q))
    : PIPELINE_QUEUES;
  const handlers = Object.fromEntries(
    Object.entries(pipelineHandlers).filter(([name]) =>
      queues.includes(JOBS[name as JobName].queue as (typeof queues)[number]),
    ),
  );
  const workers = await startWorkers(ctx, queues, handlers);
  return {
    ...workers,
    // Active jobs finish first, then the pixel threads stop.
    close: async () => {
      await workers.close();
      await closePixels();
    },
  };
}

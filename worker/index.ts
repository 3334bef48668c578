import { DAY_MS } from '../core/config';
import type { AppContext } from '../core/context';
import { sweepStaleSpools } from '../core/storage';
import { startWorkers, type Workers } from '../core/workers';
import { closePixels, PIPELINE_QUEUES, pipelineHandlers } from './handlers';

/** The worker role: the photo pipeline's queues (analysis, rendering, delivery) and privacy jobs. */
export async function startPipelineWorkers(ctx: AppContext): Promise<Workers> {
  // Spools of exports a killed worker was writing (ciphertext, but disk all the same). An export
  // spools for minutes at most, so a day untouched is abandoned, whoever shares the directory.
  const swept = await sweepStaleSpools(DAY_MS);
  if (swept) ctx.logger.info({ swept }, 'removed spool folders a stopped process left behind');
  const workers = await startWorkers(ctx, PIPELINE_QUEUES, pipelineHandlers);
  return {
    ...workers,
    // Active jobs finish first, then the pixel threads stop.
    close: async () => {
      await workers.close();
      await closePixels();
    },
  };
}

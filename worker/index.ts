import type { AppContext } from '../core/context';
import { startWorkers, type Workers } from '../core/workers';
import { closePixels, PIPELINE_QUEUES, pipelineHandlers } from './handlers';

/** The worker role: the photo pipeline's queues (analysis, rendering, delivery) and privacy jobs. */
export async function startPipelineWorkers(ctx: AppContext): Promise<Workers> {
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

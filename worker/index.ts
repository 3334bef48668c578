import type { AppContext } from '../core/context';
import { startWorkers, type Workers } from '../core/workers';
import { PIPELINE_QUEUES, pipelineHandlers } from './handlers';

/** The worker role: the photo pipeline's queues (analysis, rendering, delivery). */
export function startPipelineWorkers(ctx: AppContext): Promise<Workers> {
  return startWorkers(ctx, PIPELINE_QUEUES, pipelineHandlers);
}

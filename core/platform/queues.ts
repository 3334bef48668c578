/**
 * The queues, declared once. One queue per workload, each with its own concurrency. The worker
 * role runs the pipeline queues (a worker process may take a subset: WORKER_QUEUES); 'privacy'
 * holds the small per-item jobs the sweeps and the API fan out (deletions, exports, notices).
 * The scheduler role runs 'sweeps', its periodic sweeps.
 */
export const PIPELINE_QUEUES = ['preparation', 'analysis', 'rendering', 'delivery', 'privacy'] as const;
export const SWEEP_QUEUE = 'sweeps';
export const QUEUE_NAMES = [...PIPELINE_QUEUES, SWEEP_QUEUE] as const;

export type PipelineQueue = (typeof PIPELINE_QUEUES)[number];
export type QueueName = (typeof QUEUE_NAMES)[number];

import { BroadcastChannel, isMainThread } from 'node:worker_threads';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Config } from './config';
import { safeEqual } from './crypto';
import type { Queues } from './jobs';

/**
 * Prometheus metrics of this process, on a registry of our own (not prom-client's global one).
 * Labels are bounded sets only: route patterns, queue and job names, model ids, sweep names;
 * never a raw URL, an id or anything personal.
 */
export const registry = new Registry();

const httpDuration = new Histogram({
  name: 'rasmi_http_request_duration_seconds',
  help: 'HTTP request duration by method, route pattern and status',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
  registers: [registry],
});

const queueJobs = new Gauge({
  name: 'rasmi_queue_jobs',
  help: 'Jobs per queue and state, read from Redis at scrape time',
  labelNames: ['queue', 'state'] as const,
  registers: [registry],
});

const jobDuration = new Histogram({
  name: 'rasmi_job_duration_seconds',
  help: 'Job processing time by queue, job name and outcome',
  labelNames: ['queue', 'job', 'status'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
  registers: [registry],
});

const inferenceDuration = new Histogram({
  name: 'rasmi_model_inference_seconds',
  help: 'ONNX session run time per model',
  labelNames: ['model'] as const,
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

const sweepItems = new Counter({
  name: 'rasmi_sweep_items_total',
  help: 'Items each scheduler sweep found due (and fanned out or handled), by kind',
  labelNames: ['sweep', 'kind'] as const,
  registers: [registry],
});

/** The states a queue's jobs can be in, as BullMQ counts them. */
const JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'] as const;

export function observeHttp(method: string, route: string, status: number, seconds: number): void {
  httpDuration.observe({ method, route, status: String(status) }, seconds);
}

export function observeJob(queue: string, job: string, status: 'completed' | 'failed', seconds: number): void {
  jobDuration.observe({ queue, job, status }, seconds);
}

/**
 * Inference runs in the worker's pixel threads, whose module state (and registry) is their own:
 * there, observations go over a BroadcastChannel to the main thread, which records and serves them.
 */
const THREADS_CHANNEL = 'rasmi-metrics';
let toMainThread: BroadcastChannel | undefined;

export function observeInference(model: string, seconds: number): void {
  if (isMainThread) {
    inferenceDuration.observe({ model }, seconds);
    return;
  }
  if (!toMainThread) {
    toMainThread = new BroadcastChannel(THREADS_CHANNEL);
    toMainThread.unref();
  }
  toMainThread.postMessage({ metric: 'inference', model, seconds });
}

if (isMainThread) {
  const fromThreads = new BroadcastChannel(THREADS_CHANNEL);
  fromThreads.unref();
  fromThreads.onmessage = (event) => {
    const m = (event as { data?: { metric?: unknown; model?: unknown; seconds?: unknown } }).data;
    if (m?.metric === 'inference' && typeof m.model === 'string' && typeof m.seconds === 'number') inferenceDuration.observe({ model: m.model }, m.seconds);
  };
}

/** Called by each sweep with what it found, e.g. recordSweep('retention', { photos: 3, users: 1 }). */
export function recordSweep(sweep: string, found: Record<string, unknown>): void {
  for (const [kind, n] of Object.entries(found)) if (typeof n === 'number') sweepItems.inc({ sweep, kind }, n);
}

let processMetrics = false;
/** Process figures (RSS, heap, event-loop lag, GC), once per process and only where metrics are served. */
function enableProcessMetrics(): void {
  if (processMetrics) return;
  processMetrics = true;
  collectDefaultMetrics({ register: registry, prefix: 'rasmi_' });
}

/** The exposition text, with queue depths read now. */
export async function renderMetrics(queues: Queues): Promise<string> {
  enableProcessMetrics();
  await Promise.all(
    Object.entries(queues.byName).map(async ([queue, q]) => {
      const counts = await q.getJobCounts(...JOB_STATES);
      for (const state of JOB_STATES) queueJobs.set({ queue, state }, counts[state] ?? 0);
    }),
  );
  return registry.metrics();
}

export const METRICS_CONTENT_TYPE = registry.contentType;

/**
 * Who may read /metrics: with METRICS_TOKEN set, only "Authorization: Bearer <METRICS_TOKEN>";
 * without it, nobody in production (the endpoint is disabled) and anyone elsewhere.
 */
export function metricsAccess(config: Pick<Config, 'METRICS_TOKEN' | 'NODE_ENV'>, authorization: string | undefined): 'ok' | 'unauthorized' | 'disabled' {
  if (!config.METRICS_TOKEN) return config.NODE_ENV === 'production' ? 'disabled' : 'ok';
  const given = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
  return given && safeEqual(given, config.METRICS_TOKEN) ? 'ok' : 'unauthorized';
}

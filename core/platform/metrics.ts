import { BroadcastChannel, isMainThread } from 'node:worker_threads';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { backlogs } from './backlog';
import type { Config } from './config';
import type { AppContext } from './context';
import { safeEqual } from './crypto';
import { nearestDeadlines } from './deadlines';
import { lastSweepSuccesses } from './sweep-runs';

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

const jobsFailedForGood = new Counter({
  name: 'rasmi_jobs_failed_for_good_total',
  help: 'Jobs that failed their last attempt (JOB_ATTEMPTS spent, or unrecoverable), by queue and job name',
  labelNames: ['queue', 'job'] as const,
  registers: [registry],
});

const renderPreparations = new Counter({
  name: 'rasmi_render_preparations_total',
  help: "Photos' style-independent render work done: once when judged usable (usable), or by a render that found none stored it could use (render)",
  labelNames: ['at'] as const,
  registers: [registry],
});

const modelSessions = new Gauge({
  name: 'rasmi_model_session_info',
  help: 'Model sessions this process opened: 1 per model, the execution provider it runs on and the one configured first (ONNX_PROVIDERS)',
  labelNames: ['model', 'provider', 'preferred'] as const,
  registers: [registry],
});

/** Read at scrape time from Redis and Postgres: the same in every role, so a stopped role is still seen. */
const queueBacklog = new Gauge({
  name: 'rasmi_queue_backlog',
  help: 'Jobs needing a worker now: waiting + prioritized + delayed and due + active without a live lock; 0 while the queue is paused',
  labelNames: ['queue'] as const,
  registers: [registry],
});

const queueOldest = new Gauge({
  name: 'rasmi_queue_oldest_job_age_seconds',
  help: 'How long the longest-ready job of the backlog (paused or not) has been ready to run',
  labelNames: ['queue'] as const,
  registers: [registry],
});

const queuePaused = new Gauge({
  name: 'rasmi_queue_paused',
  help: '1 while the queue is paused (no worker takes from it)',
  labelNames: ['queue'] as const,
  registers: [registry],
});

const sweepLastSuccess = new Gauge({
  name: 'rasmi_sweep_last_success_timestamp_seconds',
  help: 'When each scheduler sweep last finished without error (Unix time)',
  labelNames: ['sweep'] as const,
  registers: [registry],
});

const sweepInterval = new Gauge({
  name: 'rasmi_sweep_interval_seconds',
  help: 'How often each sweep is scheduled to run',
  labelNames: ['sweep'] as const,
  registers: [registry],
});

const deadlineLeft = new Gauge({
  name: 'rasmi_deadline_seconds_left',
  help: 'Time left until the nearest pending deadline of a promise: BR1 breach notice, RG3 deletion request, RG6 any rights request (+Inf: none pending; negative: passed)',
  labelNames: ['promise'] as const,
  registers: [registry],
});

const oldestOpenOrder = new Gauge({
  name: 'rasmi_order_oldest_undelivered_seconds',
  help: 'Time since payment of the oldest paid order not yet delivered (0: none)',
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

export function observeJobFailedForGood(queue: string, job: string): void {
  jobsFailedForGood.inc({ queue, job });
}

/** A photo's render preparation done where `at` says; many 'render' ones mean renders are paying for it again. */
export function observeRenderPreparation(at: 'usable' | 'render'): void {
  renderPreparations.inc({ at });
}

/** Each job a worker takes starts at 0 failed for good: Prometheus' increase() sees the first failure only after a sample of 0. */
export function declareJob(queue: string, job: string): void {
  jobsFailedForGood.inc({ queue, job }, 0);
}

/**
 * Inference runs in the worker's pixel threads, whose module state (and registry) is their own:
 * there, observations go over a BroadcastChannel to the main thread, which records and serves them.
 */
const THREADS_CHANNEL = 'rasmi-metrics';
let toMainThread: BroadcastChannel | undefined;

function toMain(message: object): void {
  if (!toMainThread) {
    toMainThread = new BroadcastChannel(THREADS_CHANNEL);
    toMainThread.unref();
  }
  toMainThread.postMessage(message);
}

export function observeInference(model: string, seconds: number): void {
  if (isMainThread) inferenceDuration.observe({ model }, seconds);
  else toMain({ metric: 'inference', model, seconds });
}

/** A model session opened on `provider`; `preferred` is the first of ONNX_PROVIDERS (a GPU worker: cuda). */
export function observeSession(model: string, provider: string, preferred: string): void {
  if (isMainThread) modelSessions.set({ model, provider, preferred }, 1);
  else toMain({ metric: 'session', model, provider, preferred });
}

if (isMainThread) {
  const fromThreads = new BroadcastChannel(THREADS_CHANNEL);
  fromThreads.unref();
  fromThreads.onmessage = (event) => {
    const m = (event as { data?: Record<string, unknown> }).data;
    if (m?.metric === 'inference' && typeof m.model === 'string' && typeof m.seconds === 'number')
      inferenceDuration.observe({ model: m.model }, m.seconds);
    if (
      m?.metric === 'session' &&
      typeof m.model === 'string' &&
      typeof m.provider === 'string' &&
      typeof m.preferred === 'string'
    )
      modelSessions.set({ model: m.model, provider: m.provider, preferred: m.preferred }, 1);
  };
}

/** Called by each sweep with what it found, e.g. recordSweep('retention', { photos: 3, users: 1 }). */
export function recordSweep(sweep: string, found: Record<string, unknown>): void {
  for (const [kind, n] of Object.entries(found)) if (typeof n === 'number') sweepItems.inc({ sweep, kind }, n);
}

let processMetrics = false;
/** Process figures (RSS, heap, event-loop lag, GC), once per process and only where metrics are served. */
export function enableProcessMetrics(): void {
  if (processMetrics) return;
  processMetrics = true;
  collectDefaultMetrics({ register: registry, prefix: 'rasmi_' });
}

/**
 * Reads one source into its gauges. A source that cannot be read now (Redis or Postgres down)
 * clears them (a gauge without labels shows NaN: unknown, never a stale or made-up 0), and the
 * rest is still served: an outage must not hide the HTTP and job figures that show it.
 */
async function refresh(ctx: AppContext, source: string, gauges: Gauge[], read: () => Promise<void>): Promise<void> {
  try {
    await read();
  } catch (err) {
    for (const g of gauges) {
      g.reset();
      if (!(g as unknown as { labelNames: string[] }).labelNames.length) g.set(NaN);
    }
    ctx.logger.warn({ err: (err as Error).message, source }, 'metrics source unavailable');
  }
}

const sweepLabel = (job: string) => job.replace(/^sweep\./, '');

/**
 * The exposition text, with what lives in Redis and Postgres read now: queue depths and backlogs,
 * when each sweep last finished and how often it runs, the nearest deadlines.
 */
export async function renderMetrics(ctx: AppContext): Promise<string> {
  enableProcessMetrics();
  const now = ctx.clock.now();
  await Promise.all([
    refresh(ctx, 'queue depths', [queueJobs], async () => {
      await Promise.all(
        Object.entries(ctx.queues.byName).map(async ([queue, q]) => {
          const counts = await q.getJobCounts(...JOB_STATES);
          for (const state of JOB_STATES) queueJobs.set({ queue, state }, counts[state] ?? 0);
        }),
      );
    }),
    refresh(ctx, 'backlog', [queueBacklog, queueOldest, queuePaused], async () => {
      for (const [queue, b] of Object.entries(await backlogs(ctx.redis, ctx.queues, now))) {
        queueBacklog.set({ queue }, b.backlog);
        queueOldest.set({ queue }, b.oldestSeconds);
        queuePaused.set({ queue }, b.paused ? 1 : 0);
      }
    }),
    refresh(ctx, 'sweep runs', [sweepLastSuccess, sweepInterval], async () => {
      for (const [sweep, ms] of Object.entries(await lastSweepSuccesses(ctx.redis, ctx.config.QUEUE_PREFIX)))
        sweepLastSuccess.set({ sweep: sweepLabel(sweep) }, ms / 1000);
      for (const s of await ctx.queues.byName.sweeps.getJobSchedulers())
        if (s.every) sweepInterval.set({ sweep: sweepLabel(s.key) }, Number(s.every) / 1000);
    }),
    refresh(ctx, 'deadlines', [deadlineLeft, oldestOpenOrder], async () => {
      const deadlines = await nearestDeadlines(ctx.db);
      for (const promise of ['BR1', 'RG3', 'RG6'] as const) {
        const at = deadlines[promise];
        deadlineLeft.set({ promise }, at ? (at.getTime() - now.getTime()) / 1000 : Infinity);
      }
      oldestOpenOrder.set(
        deadlines.oldestOpenOrder ? Math.max(0, now.getTime() - deadlines.oldestOpenOrder.getTime()) / 1000 : 0,
      );
    }),
  ]);
  return registry.metrics();
}

export const METRICS_CONTENT_TYPE = registry.contentType;

/**
 * Who may read /metrics: with METRICS_TOKEN set, only "Authorization: Bearer <METRICS_TOKEN>";
 * without it, nobody in production (the endpoint is disabled) and anyone elsewhere.
 */
export function metricsAccess(
  config: Pick<Config, 'METRICS_TOKEN' | 'NODE_ENV'>,
  authorization: string | undefined,
): 'ok' | 'unauthorized' | 'disabled' {
  if (!config.METRICS_TOKEN) return config.NODE_ENV === 'production' ? 'disabled' : 'ok';
  const given = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
  return given && safeEqual(given, config.METRICS_TOKEN) ? 'ok' : 'unauthorized';
}

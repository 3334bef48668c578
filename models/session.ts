import { basename } from 'node:path';
import * as ort from 'onnxruntime-node';
import { observeInference, observeSession } from '../core/platform/metrics';

/** The subset of a pino logger that model loading uses. */
export interface ModelLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface CreateSessionOptions {
  /** Execution providers in order of preference, e.g. ['cuda', 'cpu']. `cpu` is always tried last. */
  providers: string[];
  logger?: ModelLogger;
  /** Names the model in logs and errors; defaults to the path (or 'model bytes'). */
  label?: string;
  /**
   * Whether createSession reports every run to the inference metric under the label's name
   * (default true). A caller that names runs itself (the shared style graph names them per style)
   * passes false and calls observeInference.
   */
  timed?: boolean;
  /** Further onnxruntime options, e.g. intraOpNumThreads, executionMode. */
  sessionOptions?: Omit<ort.InferenceSession.SessionOptions, 'executionProviders'>;
}

/**
 * For the models thread's sessions (ESRGAN, the style graph): onnxruntime's intra-op threads
 * otherwise spin for a while after each run, on the cores the pixel threads need for compositing
 * and the face-true check. Without it a further style through the worker costs 166-217 ms of the
 * process's CPU against 217-284 ms, its run no slower (docs/render-performance.md). The analysis'
 * small sessions keep spinning: a 12-MP analysis on one core took 8 % longer without it.
 */
export const NO_SPINNING = {
  extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
} as const;

export interface LoadedSession {
  session: ort.InferenceSession;
  /** The execution provider the session was created with. */
  provider: string;
}

/**
 * Creates an onnxruntime session from a model file's path or the model's bytes, trying the
 * configured execution providers in order. A provider that cannot be loaded (e.g. `cuda` on a
 * host without the CUDA provider libraries) is logged and skipped; `cpu` is the last resort and
 * is always tried.
 */
export async function createSession(model: string | Uint8Array, opts: CreateSessionOptions): Promise<LoadedSession> {
  const label = opts.label ?? (typeof model === 'string' ? model : 'model bytes');
  const order = opts.providers.map((p) => p.trim().toLowerCase()).filter((p) => p.length > 0);
  if (!order.includes('cpu')) order.push('cpu');
  const providers = [...new Set(order)];

  let lastError: unknown;
  for (const provider of providers) {
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: [provider],
      // 3 = error: hides onnxruntime's harmless "Removing initializer ..." warnings.
      logSeverityLevel: 3,
      graphOptimizationLevel: 'all',
      ...opts.sessionOptions,
    };
    try {
      const session =
        typeof model === 'string'
          ? await ort.InferenceSession.create(model, options)
          : await ort.InferenceSession.create(model, options);
      const name = basename(label).replace(/\.onnx$/, '');
      if (opts.timed !== false) timeRuns(session, name);
      opts.logger?.info({ model: label, provider }, 'model session ready');
      observeSession(name, provider, providers[0]);
      return { session, provider };
    } catch (err) {
      lastError = err;
      opts.logger?.warn(
        { model: label, provider, error: err instanceof Error ? err.message : String(err) },
        'execution provider unavailable, falling back',
      );
    }
  }
  const reason = lastError instanceof Error ? lastError.message : String(lastError);
  throw new Error(
    `could not create an onnxruntime session for ${label} with any of [${providers.join(', ')}]: ${reason}`,
  );
}

// Module state is per thread (each worker thread loads its own module instance),
// so this memo gives one lazily-loaded value per key per thread.
const memo = new Map<string, Promise<unknown>>();

/**
 * Runs `factory` the first time `key` is asked for and returns the same promise afterwards.
 * A factory that rejects is forgotten so that a later call can retry.
 */
export function loadOnce<T>(key: string, factory: () => Promise<T>): Promise<T> {
  const cached = memo.get(key);
  if (cached !== undefined) return cached as Promise<T>;
  const pending = (async () => factory())(); // a synchronous throw becomes a rejection
  memo.set(key, pending);
  pending.catch(() => {
    if (memo.get(key) === pending) memo.delete(key);
  });
  return pending;
}

/** Reports the duration of every run of this session to the model inference metric (core/platform/metrics). */
export function timeRuns(session: ort.InferenceSession, model: string): void {
  const run = session.run.bind(session) as (...args: unknown[]) => Promise<ort.InferenceSession.OnnxValueMapType>;
  (session as { run: unknown }).run = async (...args: unknown[]) => {
    const started = performance.now();
    try {
      return await run(...args);
    } finally {
      observeInference(model, (performance.now() - started) / 1000);
    }
  };
}

/** A session opened at its first use and released once `idleMs` have passed without one. */
export interface IdleSession {
  readonly loaded: boolean;
  /** Runs `work` on the session, opening it first if it is not open. */
  use<T>(work: (loaded: LoadedSession) => Promise<T>): Promise<T>;
  /** Releases the session now, unless a run is in progress (then `idleMs` after it, as usual). */
  release(): void;
}

/**
 * A thread holds a model's weights and working memory only while work for it keeps coming: the
 * session opens at the first use and is released `idleMs` after the last one ends. A release waits
 * for runs in progress; a session that failed to open is tried again at the next use.
 */
export function idleSession(open: () => Promise<LoadedSession>, idleMs: number): IdleSession {
  let current: Promise<LoadedSession> | undefined;
  let running = 0;
  let timer: NodeJS.Timeout | undefined;
  const release = () => {
    const held = current;
    current = undefined;
    held?.then(
      ({ session }) => session.release(),
      () => {},
    );
  };
  return {
    get loaded() {
      return current !== undefined;
    },
    release() {
      if (running) return;
      clearTimeout(timer);
      release();
    },
    async use(work) {
      clearTimeout(timer);
      running++;
      try {
        current ??= open();
        const pending = current;
        pending.catch(() => {
          if (current === pending) current = undefined;
        });
        return await work(await pending);
      } finally {
        if (--running === 0) timer = setTimeout(release, idleMs).unref();
      }
    },
  };
}

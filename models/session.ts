import * as ort from 'onnxruntime-node';

/** The subset of a pino logger that model loading uses. */
export interface ModelLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface CreateSessionOptions {
  /** Execution providers in order of preference, e.g. ['cuda', 'cpu']. `cpu` is always tried last. */
  providers: string[];
  logger?: ModelLogger;
}

export interface LoadedSession {
  session: ort.InferenceSession;
  /** The execution provider the session was created with. */
  provider: string;
}

/**
 * Creates an onnxruntime session, trying the configured execution providers in order.
 * A provider that cannot be loaded (e.g. `cuda` on a host without the CUDA provider
 * libraries) is logged and skipped; `cpu` is the last resort and is always tried.
 */
export async function createSession(modelPath: string, opts: CreateSessionOptions): Promise<LoadedSession> {
  const order = opts.providers.map((p) => p.trim().toLowerCase()).filter((p) => p.length > 0);
  if (!order.includes('cpu')) order.push('cpu');
  const providers = [...new Set(order)];

  let lastError: unknown;
  for (const provider of providers) {
    try {
      const session = await ort.InferenceSession.create(modelPath, {
        executionProviders: [provider],
        // 3 = error: hides onnxruntime's harmless "Removing initializer ..." warnings.
        logSeverityLevel: 3,
        graphOptimizationLevel: 'all',
      });
      opts.logger?.info({ model: modelPath, provider }, 'model session ready');
      return { session, provider };
    } catch (err) {
      lastError = err;
      opts.logger?.warn(
        { model: modelPath, provider, error: err instanceof Error ? err.message : String(err) },
        'execution provider unavailable, falling back',
      );
    }
  }
  const reason = lastError instanceof Error ? lastError.message : String(lastError);
  throw new Error(`could not create an onnxruntime session for ${modelPath} with any of [${providers.join(', ')}]: ${reason}`);
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
  if (cached) return cached as Promise<T>;
  const pending = (async () => factory())(); // a synchronous throw becomes a rejection
  memo.set(key, pending);
  pending.catch(() => {
    if (memo.get(key) === pending) memo.delete(key);
  });
  return pending;
}

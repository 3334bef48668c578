/**
 * Builds the models that ship as TF.js graphs into the ONNX files the registry points at
 * (models/onnx/*.onnx, build outputs, not committed).
 *
 * A build is reproducible: the converter's output is a pure function of the package files, so the
 * registry records the expected sha256 of each built file. An existing file with that sha256 is
 * kept; otherwise the model is converted, and a result with any other sha256 is refused (nothing
 * is written) with an error naming the model.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { CONVERTER_VERSION, convertTfjsGraph } from './convert-tfjs';
import { LAYERS_CONVERTER_VERSION, convertTfjsLayers } from './convert-tfjs-layers';
import { getModel, modelPath, models, projectRoot, verifyModel, type ModelEntry, type ModelId } from './registry';
import type * as ort from 'onnxruntime-node';
import {
  createSession,
  idleSession,
  loadOnce,
  type CreateSessionOptions,
  type LoadedSession,
  type ModelLogger,
} from './session';

export interface BuildResult {
  id: string;
  /** Absolute path of the built file. */
  path: string;
  sha256: string;
  /** `up-to-date`: the existing file already had the expected sha256. */
  status: 'built' | 'up-to-date';
  /** Conversion time (0 when up to date). */
  ms: number;
}

export interface EnsureModelsOptions {
  /** Models to build; default: every registry entry with a `build` spec. */
  ids?: ModelId[];
  /** Convert even when the existing file matches. */
  force?: boolean;
  logger?: ModelLogger;
}

/** Ids of the built-in registry entries that are build outputs. */
export const BUILT_MODEL_IDS: readonly string[] = Object.values(models as Record<string, ModelEntry>)
  .filter((e) => e.build !== undefined)
  .map((e) => e.id);

async function sha256OfFile(file: string): Promise<string | null> {
  try {
    return createHash('sha256')
      .update(await readFile(file))
      .digest('hex');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function installedVersion(pkg: string): Promise<string | null> {
  try {
    const json = JSON.parse(await readFile(resolve(projectRoot, 'node_modules', pkg, 'package.json'), 'utf8')) as {
      version?: string;
    };
    return json.version ?? null;
  } catch {
    return null;
  }
}

async function build(id: ModelId, opts: EnsureModelsOptions): Promise<BuildResult> {
  const entry = getModel(id);
  if (!entry.build) throw new Error(`model '${id}' is not a build output (no build spec in models/registry.ts)`);
  const out = modelPath(id);

  if (!opts.force && (await sha256OfFile(out)) === entry.sha256) {
    return { id: entry.id, path: out, sha256: entry.sha256, status: 'up-to-date', ms: 0 };
  }

  const pkg = `${entry.sourcePackage}@${entry.sourcePackageVersion}`;
  const installed = await installedVersion(entry.sourcePackage);
  if (installed === null)
    throw new Error(`model '${id}': package ${entry.sourcePackage} is not installed (expected ${pkg})`);
  if (installed !== entry.sourcePackageVersion) {
    throw new Error(`model '${id}': expects ${pkg}, node_modules has ${entry.sourcePackage}@${installed}`);
  }

  const source = resolve(projectRoot, entry.build.source);
  const t0 = performance.now();
  let bytes: Uint8Array;
  try {
    bytes =
      entry.build.converter === 'tfjs-layers'
        ? await convertTfjsLayers(source)
        : await convertTfjsGraph(source, entry.build.cut);
  } catch (err) {
    throw new Error(
      `model '${id}': converting ${entry.build.source} failed: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
  const ms = performance.now() - t0;
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== entry.sha256) {
    throw new Error(
      `model '${id}': the converted ${entry.build.source} (${pkg}, ${entry.build.converter} converter ${entry.build.converter === 'tfjs-layers' ? LAYERS_CONVERTER_VERSION : CONVERTER_VERSION}) has sha256 ${sha256}, ` +
        `the registry expects ${entry.sha256}. Nothing was written. If the converter or the package changed on purpose, ` +
        `check the model against its goldens (test/unit/${entry.build.converter === 'tfjs-layers' ? 'upscaler' : 'convert-tfjs'}.test.ts) and record the new sha256 in models/registry.ts.`,
    );
  }

  // Write-then-rename so that a concurrent reader never sees a partial file.
  await mkdir(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, out);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  opts.logger?.info({ model: entry.id, path: out, sha256, ms: Math.round(ms) }, 'model built');
  return { id: entry.id, path: out, sha256, status: 'built', ms };
}

// One build per model at a time in this thread; callers asking meanwhile share the result.
const inFlight = new Map<string, Promise<BuildResult>>();

/**
 * Makes sure the converted models exist with their recorded sha256, converting them from the
 * installed packages where needed. Safe to call at every worker start: an up-to-date model costs
 * one file hash. Throws an Error naming the model on any failure.
 */
export async function ensureModels(opts: EnsureModelsOptions = {}): Promise<BuildResult[]> {
  const ids = opts.ids ?? BUILT_MODEL_IDS;
  const results: BuildResult[] = [];
  for (const id of ids) {
    const key = `${id}|${opts.force ? 'force' : ''}`;
    let pending = inFlight.get(key);
    if (!pending) {
      pending = build(id, opts).finally(() => inFlight.delete(key));
      inFlight.set(key, pending);
    }
    results.push(await pending);
  }
  return results;
}

/**
 * Registered models run without onnxruntime's CPU arena and memory pattern unless their caller asks
 * otherwise, so a run's working memory is returned when it ends instead of staying with each
 * thread's session for good (bench:worker-memory; the inputs of these models are small, and the CPU
 * time did not move). ESRGAN, whose tiles are large, passes its own options (models/upscaler.ts).
 */
const REGISTERED_MODEL_OPTIONS = { enableCpuMemArena: false, enableMemPattern: false } as const;

/**
 * A new session of a registered model, not shared: a converted model is built first if it is
 * missing, and every file is checked against its recorded sha256 before it loads.
 */
export async function openModelSession(
  id: ModelId,
  opts: { providers: string[]; logger?: ModelLogger; sessionOptions?: CreateSessionOptions['sessionOptions'] },
): Promise<LoadedSession> {
  if (getModel(id).build) await ensureModels({ ids: [id], logger: opts.logger });
  await verifyModel(id);
  return createSession(modelPath(id), {
    providers: opts.providers,
    logger: opts.logger,
    sessionOptions: opts.sessionOptions ?? REGISTERED_MODEL_OPTIONS,
  });
}

/** A registered model a thread holds only while it is used (an IdleSession), and the provider it last ran on. */
export interface HeldModel {
  readonly provider: string;
  /** Whether the session is open (between a run and `idleMs` after the last, or release()). */
  readonly loaded: boolean;
  /** Releases the session now (it is opened again at the next run). */
  release(): void;
}

/** `HeldModel` of a registered model (see openModelSession), with the run it is held for. */
export function heldModel(
  id: ModelId,
  opts: Parameters<typeof openModelSession>[1],
  idleMs: number,
): HeldModel & { run(feeds: ort.InferenceSession.FeedsType): Promise<ort.InferenceSession.ReturnType> } {
  let provider = 'not loaded yet';
  const held = idleSession(() => openModelSession(id, opts), idleMs);
  return {
    get provider() {
      return provider;
    },
    get loaded() {
      return held.loaded;
    },
    release: () => held.release(),
    run: (feeds) =>
      held.use((loaded) => {
        provider = loaded.provider;
        return loaded.session.run(feeds);
      }),
  };
}

/** The session of a registered model, once per thread and provider list (see openModelSession). */
export function openModel(id: ModelId, opts: Parameters<typeof openModelSession>[1]): Promise<LoadedSession> {
  return loadOnce(`${id}|${opts.providers.join(',')}`, () => openModelSession(id, opts));
}

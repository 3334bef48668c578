import type { Style } from '../core/orders/catalog';
import type { Config } from '../core/platform/config';
import { decodeRgb } from '../core/photos/images';
import { createFaceDetector } from '../models/face-detector';
import { createIsnetSegmenter } from '../models/isnet';
import { createLandmarker, type Landmarker } from '../models/landmarks';
import { createSegmenter } from '../models/segmenter';
import { createBodyMasker } from '../models/body-mask';
import { createPoseDetector } from '../models/pose';
import type { ModelLogger } from '../models/session';
import { createStyleRunner } from '../models/style-graph';
import { createIdleUpscaler } from '../models/upscaler';
import { createAnalyser, thresholdsFrom, type Analyser, type Analysis } from './analysis';
import type { QualityThresholds } from './quality';
import type { SharedModels } from './shared-models';
import { decodePrepared, encodePrepared } from './prepared-form';
import { prepare, renderStyle, type FaceGeometry, type Prepared, type RenderModels, type Rendered } from './render';

/** What the pixel work needs from configuration; plain data, so it can cross into a thread. */
export interface PixelSettings {
  providers: string[];
  presenceMin: number;
  thresholds: QualityThresholds;
  faceTrueTolerance: number;
  headshotSize: number;
  matting: { model: 'selfie' | 'isnet'; isnetPath?: string };
}

/**
 * What a render starts from: the photo's stored preparation (worker/prepared-form.ts, checked with
 * staleReason by the caller) or its original, prepared on the spot.
 */
export type RenderSource = { prepared: Uint8Array } | { original: Buffer };

/** Where a render's Prepared came from: this thread's cache, the stored form, or made on the spot. */
export type PreparedFrom = 'kept' | 'stored' | 'made';

export interface PreparedPhoto {
  /** The stored form (worker/prepared-form.ts). */
  bytes: Uint8Array;
  timings: Record<string, number>;
}

export interface PixelWork {
  analyse(stored: Buffer): Promise<Analysis>;
  /** A usable photo's style-independent work, in its stored form (once, when it is judged usable). */
  prepare(original: Buffer, geometry: FaceGeometry): Promise<PreparedPhoto>;
  /** `key` names the photo: renders of its other styles reuse the Prepared this thread keeps. */
  render(
    key: string,
    source: RenderSource,
    geometry: FaceGeometry,
    style: Style,
  ): Promise<Rendered & { preparedFrom: PreparedFrom }>;
}

/** The pixel threads' settings from the worker's configuration. */
export function pixelSettings(c: Config): PixelSettings {
  return {
    providers: c.ONNX_PROVIDERS,
    presenceMin: c.FACE_PRESENCE_MIN,
    thresholds: thresholdsFrom(c),
    faceTrueTolerance: c.FACE_TRUE_TOLERANCE,
    headshotSize: c.HEADSHOT_SIZE,
    matting: { model: c.MATTING_MODEL, isnetPath: c.ISNET_MODEL_PATH },
  };
}

/**
 * ESRGAN's sessions are released as soon as no upscale runs: their arena (about 50 MB after an
 * upscale, models/upscaler.ts) is held only while a small face is being enlarged. Opening one
 * again costs about 80 ms of CPU, against 1-3 s for the upscale itself.
 */
const ESRGAN_IDLE_MS = 0;

/**
 * The last photo's Prepared (about 12 MB at 1024 px) is kept for its other styles: an order's
 * renders are queued photo by photo (core/orders/orders.ts), and a photo that comes back later is
 * read from its stored form again (about 50 ms). Before the stored form a thread kept four, at
 * 17 MB each with the skin mask: up to 140 MB of a worker's peak with two threads.
 */
const PREPARED_KEEP = 1;

/**
 * ESRGAN and the style graph for this thread alone: ESRGAN opens when a small face needs it and is
 * released once that upscale is done.
 */
export function ownSharedModels(s: Pick<PixelSettings, 'providers'>, logger?: ModelLogger): SharedModels {
  return {
    styles: createStyleRunner({ providers: s.providers, logger }),
    upscalers: {
      2: createIdleUpscaler({ providers: s.providers, logger, scale: 2, idleMs: ESRGAN_IDLE_MS }),
      4: createIdleUpscaler({ providers: s.providers, logger, scale: 4, idleMs: ESRGAN_IDLE_MS }),
    },
  };
}

/**
 * The rendering models on the configured providers and matting model. `shared` (ESRGAN and the
 * style graph) defaults to this thread's own; the pixel pool's threads use the models thread's
 * (worker/shared-models.ts).
 */
export async function loadRenderModels(
  s: Pick<PixelSettings, 'providers' | 'matting'>,
  logger?: ModelLogger,
  shared = ownSharedModels(s, logger),
  landmarker = createLandmarker({ providers: s.providers, logger }),
): Promise<RenderModels> {
  return {
    // ISNet is AGPL-3.0 and operator-installed: only when configuration asks for it.
    segmenter:
      s.matting.model === 'isnet'
        ? await createIsnetSegmenter({ providers: s.providers, logger, path: s.matting.isnetPath })
        : await createSegmenter({ providers: s.providers, logger }),
    ...shared,
    detector: await createFaceDetector({ providers: s.providers, logger }),
    landmarker: await landmarker,
    pose: createPoseDetector({ providers: s.providers, logger }),
    body: createBodyMasker({ providers: s.providers, logger }),
  };
}

/** Models load lazily, once per thread that runs this. */
export function createPixelWork(s: PixelSettings, logger?: ModelLogger, shared?: SharedModels): PixelWork {
  let analyser: Promise<Analyser> | undefined;
  let models: Promise<RenderModels> | undefined;
  // One FaceMesh session for the analyses and the renders of this thread (tasks run one at a time).
  let mesh: Promise<Landmarker> | undefined;
  const landmarker = () => (mesh ??= createLandmarker({ providers: s.providers, logger }));
  const renderModels = () => (models ??= loadRenderModels(s, logger, shared, landmarker()));
  const prepared = new Map<string, Promise<Prepared>>();

  return {
    async analyse(stored) {
      analyser ??= createAnalyser({
        providers: s.providers,
        logger,
        presenceMin: s.presenceMin,
        thresholds: s.thresholds,
        mesh: landmarker(),
      });
      return (await analyser).analyse(await decodeRgb(stored));
    },
    async prepare(original, geometry) {
      const p = await prepare(await renderModels(), original, geometry, s.headshotSize);
      const t = performance.now();
      const bytes = encodePrepared(p, s.headshotSize);
      return { bytes, timings: { ...p.timings, encode: performance.now() - t } };
    },
    async render(key, source, geometry, style) {
      const m = await renderModels();
      let p = prepared.get(key);
      let from: PreparedFrom = 'kept';
      if (!p) {
        from = 'prepared' in source ? 'stored' : 'made';
        p =
          'prepared' in source
            ? Promise.resolve(source.prepared).then(decodePrepared)
            : prepare(m, source.original, geometry, s.headshotSize);
        p.catch(() => prepared.delete(key));
        prepared.set(key, p);
        while (prepared.size > PREPARED_KEEP) prepared.delete(prepared.keys().next().value!);
      }
      const out = await renderStyle(m, await p, style, s.faceTrueTolerance);
      // The first style of a photo also reports what its Prepared cost (read, or decode, upscale, segment...).
      return {
        ...out,
        preparedFrom: from,
        timings: from === 'kept' ? out.timings : { ...(await p).timings, ...out.timings },
      };
    },
  };
}

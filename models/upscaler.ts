/**
 * Super-resolution with ESRGAN slim (@upscalerjs/esrgan-slim, an RDN converted from TF.js layers
 * to ONNX by models/build.ts): 2x or 4x upscaling of packed RGB images.
 *
 * Large images are processed in tiles so that memory stays bounded whatever the image size. Each
 * tile is a core of `tileSize` input pixels plus TILE_CONTEXT pixels of real image around it on
 * every side that has image; only the core's output is kept. The context is wider than the
 * network's receptive radius, so a tiled result equals the untiled one (up to float rounding):
 * no seams and no blending. Windows are shifted inwards at the right and bottom edges so that every
 * window of an image has the same size, which lets onnxruntime reuse its plan between tiles.
 */
import * as ort from 'onnxruntime-node';
import { release } from '../core/platform/buffers';
import { openModel, openModelSession } from './build';
import type { RgbImage } from './face-detector';
import { getModel } from './registry';
import { idleSession, NO_SPINNING, type LoadedSession, type ModelLogger } from './session';

export type UpscaleFactor = 2 | 4;

export interface UpscalerOptions {
  providers: string[];
  logger?: ModelLogger;
  scale: UpscaleFactor;
  /** Side of a tile's core in input pixels. Default DEFAULT_TILE_SIZE. */
  tileSize?: number;
  /** Refuse inputs whose output would have more pixels than this. Default DEFAULT_MAX_OUTPUT_PIXELS. */
  maxOutputPixels?: number;
}

export interface Upscaler {
  /** Returns the image `scale` times wider and higher, packed RGB. */
  upscale(image: RgbImage): Promise<RgbImage>;
  scale: UpscaleFactor;
  /** Execution provider the model runs on. */
  provider: string;
}

const MODEL_IDS: Record<UpscaleFactor, string> = { 2: 'esrgan-slim-x2', 4: 'esrgan-slim-x4' };

/**
 * Input pixels of real image kept around each tile core. ESRGAN slim's receptive radius is 9.5 input
 * pixels (3x3 convs F_m1, F_0, F_1_1, F_2_1, GFF_2, UPN2, UPN3: 1 each; 5x5 UPN1: 2; the 3x3 SR
 * conv after upsampling: 1/scale), so 12 leaves a margin.
 */
export const TILE_CONTEXT = 12;
/**
 * Largest tile core side; cores are then split evenly (tileSpans), so windows are at most 88 px.
 * Without onnxruntime's arena (below), a tile's activations are the upscale's working memory: a
 * 260x330 crop at 4x measured a process peak of 182-214 MB with 64-px cores against 214-258 MB
 * with 96-px ones (windows of 111x107 px) and 187-204 MB with 48-px ones, for 2.7-3.6 s of CPU
 * against 2.6-3.0 s and 3.0-3.3 s (eight runs each, 2 shared cores, load 4-5). Before the arena
 * went, 96-px cores had been measured against fixed 128-px ones (windows of 152 px): 139-150 MB
 * against 209-212 MB at 4x. An untiled 512x512 2x took +940 MB.
 */
export const DEFAULT_TILE_SIZE = 64;
/** 100 megapixels of output (300 MB of RGB). */
export const DEFAULT_MAX_OUTPUT_PIXELS = 100_000_000;

export interface TileSpan {
  /** Output-relevant part, [start, end) in input pixels. */
  core: [number, number];
  /** Part fed to the model, [start, end) in input pixels; contains `core`. */
  window: [number, number];
}

/**
 * Splits one axis of `length` pixels into the fewest cores of at most `tile` pixels, of even size,
 * with windows of core + 2*context pixels; an axis no longer than tile + 2*context is one window.
 * Every core has at least `context` pixels of window on each side, or reaches the image edge on
 * that side; all windows have the same size.
 */
export function tileSpans(length: number, tile: number, context: number): TileSpan[] {
  // As few cores as `tile` allows, of even size: a 260-px axis is three cores of 87, not 128, 128
  // and 4, so no window is mostly computed again for a sliver of core.
  // An axis that fits in one window of the largest size is one window, not split.
  if (length <= tile + 2 * context) return [{ core: [0, length], window: [0, length] }];
  const core = Math.ceil(length / Math.ceil(length / tile));
  const size = core + 2 * context;
  const spans: TileSpan[] = [];
  for (let a = 0; a < length; a += core) {
    const b = Math.min(length, a + core);
    const start = Math.min(Math.max(a - context, 0), length - size);
    spans.push({ core: [a, b], window: [start, start + size] });
  }
  return spans;
}

function checkImage(image: RgbImage): void {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`upscaler: invalid image size ${width}x${height}`);
  }
  if (data.length !== width * height * 3) {
    throw new Error(
      `upscaler: expected packed RGB (${width}x${height}x3 = ${width * height * 3} bytes), got ${data.length} bytes`,
    );
  }
}

/**
 * Loads ESRGAN slim for `scale` (building models/onnx/esrgan-slim-x<scale>.onnx from the installed
 * package first if it is missing) and returns an upscaler. The session is shared by the thread.
 */
export async function createUpscaler(opts: UpscalerOptions): Promise<Upscaler> {
  checkScale(opts.scale);
  return upscalerOn(await openModel(MODEL_IDS[opts.scale], { ...opts, sessionOptions: ESRGAN_SESSION_OPTIONS }), opts);
}

/**
 * An upscaler that opens its own session at its first upscale and releases it once idleMs have
 * passed without one: a worker holds ESRGAN's weights and working memory only while photos with
 * small faces come in. A release waits for runs in progress.
 */
export function createIdleUpscaler(
  opts: UpscalerOptions & { idleMs: number },
): Upscaler & { readonly loaded: boolean } {
  checkScale(opts.scale);
  let provider = 'not loaded yet';
  const held = idleSession(
    () => openModelSession(MODEL_IDS[opts.scale], { ...opts, sessionOptions: ESRGAN_SESSION_OPTIONS }),
    opts.idleMs,
  );
  return {
    scale: opts.scale,
    get provider() {
      return provider;
    },
    get loaded() {
      return held.loaded;
    },
    upscale: (image) =>
      held.use((loaded) => {
        provider = loaded.provider;
        return upscalerOn(loaded, opts).upscale(image);
      }),
  };
}

/**
 * ESRGAN keeps onnxruntime's arena but not the memory pattern. Without the arena each tile's
 * activations are allocated afresh, and under jemalloc (as the images run) their pages come back
 * from the system every time: an x4 upscale of a 260x330 crop took 2.4 s of CPU and 625,000 page
 * faults against 0.96 s and 70,000 with it (glibc: 0.93 s either way). The arena's blocks (about
 * 50 MB after an upscale) are held only while the session is: the worker releases it as soon as
 * no upscale runs (worker/pixel-work.ts). Its threads do not spin between runs (NO_SPINNING).
 */
const ESRGAN_SESSION_OPTIONS = { enableMemPattern: false, ...NO_SPINNING } as const;

function checkScale(scale: number): void {
  if (scale !== 2 && scale !== 4) throw new Error(`upscaler: scale must be 2 or 4, got ${String(scale)}`);
}

/** The upscaler over an open ESRGAN session. */
function upscalerOn({ session, provider }: LoadedSession, opts: UpscalerOptions): Upscaler {
  const { scale } = opts;
  const tile = opts.tileSize ?? DEFAULT_TILE_SIZE;
  if (!Number.isInteger(tile) || tile < 1)
    throw new Error(`upscaler: tileSize must be a positive integer, got ${tile}`);
  const maxOutputPixels = opts.maxOutputPixels ?? DEFAULT_MAX_OUTPUT_PIXELS;
  const entry = getModel(MODEL_IDS[scale]);
  const inputName = entry.input.name;
  const [outputName] = entry.outputs;

  return {
    scale,
    provider,
    async upscale(image: RgbImage): Promise<RgbImage> {
      checkImage(image);
      const { width: W, height: H, data: src } = image;
      const OW = W * scale;
      const OH = H * scale;
      if (OW * OH > maxOutputPixels) {
        throw new Error(
          `upscaler: a ${W}x${H} image gives ${OW}x${OH} at ${scale}x, over the limit of ${maxOutputPixels} output pixels`,
        );
      }
      const out = Buffer.alloc(OW * OH * 3);
      const rows = tileSpans(H, tile, TILE_CONTEXT);
      const cols = tileSpans(W, tile, TILE_CONTEXT);
      const winH = rows[0].window[1] - rows[0].window[0];
      const winW = cols[0].window[1] - cols[0].window[0];
      const input = new Float32Array(winH * winW * 3);
      for (const r of rows) {
        for (const c of cols) {
          const [y0, x0] = [r.window[0], c.window[0]];
          for (let y = 0; y < winH; y++) {
            const s = ((y0 + y) * W + x0) * 3;
            const d = y * winW * 3;
            for (let i = 0; i < winW * 3; i++) input[d + i] = src[s + i];
          }
          const result = await session.run({ [inputName]: new ort.Tensor('float32', input, [1, winH, winW, 3]) });
          const sr = result[outputName];
          const tw = winW * scale;
          if (sr.dims[1] !== winH * scale || sr.dims[2] !== tw || sr.dims[3] !== 3) {
            throw new Error(`upscaler: model output [${sr.dims.join(', ')}] for a ${winW}x${winH} tile`);
          }
          const px = sr.data as Float32Array;
          // Keep the core: output rows/cols [scale*core) of the image, offset by the window start.
          const [cy0, cy1] = [r.core[0] * scale, r.core[1] * scale];
          const [cx0, cx1] = [c.core[0] * scale, c.core[1] * scale];
          const ox = x0 * scale;
          const oy = y0 * scale;
          for (let y = cy0; y < cy1; y++) {
            let s = ((y - oy) * tw + (cx0 - ox)) * 3;
            let d = (y * OW + cx0) * 3;
            for (let i = (cx1 - cx0) * 3; i > 0; i--) {
              const v = px[s++];
              out[d++] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v); // NaN -> 0
            }
          }
          // Each tile's output is a fresh copy (onnxruntime-node): freed now, not at the next collection.
          release(px);
          sr.dispose();
        }
      }
      return { data: out, width: OW, height: OH };
    },
  };
}

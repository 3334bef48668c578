/**
 * Person segmentation with MediaPipe Selfie Segmentation (converted from TF.js to ONNX by
 * models/build.ts): a coarse 256x256 person-probability mask for a photo of any aspect ratio.
 * The mask is refined to a full-resolution alpha matte by `refineMask` in models/matte.ts.
 */
import * as ort from 'onnxruntime-node';
import { openModel } from './build';
import { checkRgbImage, letterboxRect, resizeRgb, type RgbImage } from './face-detector';
import { getModel } from './registry';
import type { ModelLogger } from './session';

export const SEGMENTATION_SIZE = 256;

/**
 * How a non-square photo is fitted into the model's square input.
 * - `letterbox`: scaled to fit, aspect kept, the rest padded (see `SegmenterOptions.padding`).
 * - `stretch`: scaled to fill the square, aspect not kept.
 */
export type SegmentationFit = 'letterbox' | 'stretch';

/** A coarse mask and where the photo lies in it. */
export interface SegmentationMask {
  /** Person probability 0..1, row-major, width x height. */
  mask: Float32Array;
  /** SEGMENTATION_SIZE here; other segmenters with this interface differ (models/isnet.ts: 1024). */
  width: number;
  height: number;
  /** Size of the photo the mask was computed for. */
  imageWidth: number;
  imageHeight: number;
  /**
   * The rectangle of the mask, in mask pixels (continuous coordinates: mask pixel (0,0) spans
   * 0..1), that the whole photo was resized into. The photo's continuous point (X, Y) maps to
   * (region.x + X * region.width / imageWidth, region.y + Y * region.height / imageHeight).
   */
  region: { x: number; y: number; width: number; height: number };
}

export interface Segmenter {
  segment(image: RgbImage): Promise<SegmentationMask>;
  /** Execution provider the model runs on. */
  provider: string;
}

export interface SegmenterOptions {
  providers: string[];
  logger?: ModelLogger;
  /** Default `stretch` (measured: see DEFAULT_FIT). */
  fit?: SegmentationFit;
  /**
   * Letterbox padding: `edge` replicates the photo's border pixels, a number is a grey level
   * 0..1. Default 0, black (see DEFAULT_PADDING).
   */
  padding?: 'edge' | number;
}

const MODEL_ID = 'selfie-segmentation';
const SIZE = SEGMENTATION_SIZE;

/**
 * Stretch rather than letterbox, measured with a scratch script on head-and-shoulders crops of
 * astronaut.png at 1:1, 3:4, 2:3, 9:16, 4:3 and 16:9, cut out with a known hard mask and
 * composited onto other backgrounds (and the original photo): stretching gave the lower alpha
 * error at every aspect (mean absolute error 0-255 after refineMask, stretched vs letterboxed
 * with the three paddings: 3:4 1.2 vs 1.7-5.5, 2:3 1.2 vs 1.9-10.4, 9:16 1.3 vs 4.4-14.4,
 * 4:3 1.6 vs 3.1-5.6, 16:9 3.4 vs 14.7-74.8). Letterboxing shrinks the subject to part of the
 * 256 px input and the padding confuses the model (grey padding was marked as person); the
 * model copes well with the anisotropic squeeze. MediaPipe's own graph
 * (mediapipe/modules/selfie_segmentation/selfie_segmentation_cpu.pbtxt) also resizes with
 * `keep_aspect_ratio: false`.
 */
export const DEFAULT_FIT: SegmentationFit = 'stretch';
/**
 * Letterbox padding when `fit` is `letterbox`: black was best on portrait crops (3:4, 2:3, 9:16),
 * replicated edges on a 16:9 one; grey was worst.
 */
export const DEFAULT_PADDING: 'edge' | number = 0;

/** The model's input tensor (NHWC, RGB 0..1) and where the photo lies in it. */
export async function segmentationInput(
  image: RgbImage,
  fit: SegmentationFit = DEFAULT_FIT,
  padding: 'edge' | number = DEFAULT_PADDING,
): Promise<{ tensor: Float32Array; region: SegmentationMask['region'] }> {
  const { w, h, padX, padY } =
    fit === 'letterbox' ? letterboxRect(image.width, image.height, SIZE) : { w: SIZE, h: SIZE, padX: 0, padY: 0 };
  const pixels = await resizeRgb(image, w, h);

  const tensor = new Float32Array(SIZE * SIZE * 3);
  const k = 1 / 255;
  const grey = typeof padding === 'number' ? Math.min(1, Math.max(0, padding)) : 0;
  for (let y = 0; y < SIZE; y++) {
    // Row of the resized photo this tensor row shows (edge rows replicated into the padding).
    const inside = y >= padY && y < padY + h;
    const sy = Math.min(h - 1, Math.max(0, y - padY));
    const row = sy * w * 3;
    let dst = y * SIZE * 3;
    for (let x = 0; x < SIZE; x++, dst += 3) {
      const insideX = x >= padX && x < padX + w;
      if (padding !== 'edge' && !(inside && insideX)) {
        tensor[dst] = grey;
        tensor[dst + 1] = grey;
        tensor[dst + 2] = grey;
        continue;
      }
      const sx = Math.min(w - 1, Math.max(0, x - padX));
      const src = row + sx * 3;
      tensor[dst] = pixels[src] * k;
      tensor[dst + 1] = pixels[src + 1] * k;
      tensor[dst + 2] = pixels[src + 2] * k;
    }
  }
  return { tensor, region: { x: padX, y: padY, width: w, height: h } };
}

/**
 * Loads Selfie Segmentation (building models/onnx/selfie.onnx from the installed package first if
 * it is missing) and returns a segmenter.
 */
export async function createSegmenter(opts: SegmenterOptions): Promise<Segmenter> {
  const fit = opts.fit ?? DEFAULT_FIT;
  if (fit !== 'letterbox' && fit !== 'stretch') throw new Error(`segmenter: unknown fit '${String(fit)}'`);
  const padding = opts.padding ?? DEFAULT_PADDING;
  if (padding !== 'edge' && !(typeof padding === 'number' && padding >= 0 && padding <= 1)) {
    throw new Error(`segmenter: padding must be 'edge' or a grey level 0..1, got ${String(padding)}`);
  }
  const entry = getModel(MODEL_ID);
  const { session, provider } = await openModel(MODEL_ID, opts);
  const inputName = entry.input.name;
  const [outputName] = entry.outputs;

  return {
    provider,
    async segment(image: RgbImage): Promise<SegmentationMask> {
      checkRgbImage(image, 'segmenter');
      const { tensor, region } = await segmentationInput(image, fit, padding);
      const result = await session.run({ [inputName]: new ort.Tensor('float32', tensor, [1, SIZE, SIZE, 3]) });
      const out = result[outputName].data as Float32Array;
      if (out.length !== SIZE * SIZE)
        throw new Error(`segmenter: expected a ${SIZE}x${SIZE} mask, got ${out.length} values`);
      // Own copy, clamped (the model ends in a sigmoid; NaN becomes 0).
      const mask = new Float32Array(SIZE * SIZE);
      for (let i = 0; i < mask.length; i++) {
        const v = out[i];
        mask[i] = v > 0 ? (v < 1 ? v : 1) : 0;
      }
      return { mask, width: SIZE, height: SIZE, imageWidth: image.width, imageHeight: image.height, region };
    },
  };
}

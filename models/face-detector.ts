import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { openModel } from './build';
import { getModel } from './registry';
import type { ModelLogger } from './session';
import { checkRgbImage, type Point, type RgbImage } from '../core/photos/pixels';

export { checkRgbImage, type Point, type RgbImage };

export interface Face {
  /** Original image pixels. Not clamped: a face cut by the image edge can extend past it. */
  box: { x: number; y: number; width: number; height: number };
  /** 0..1 */
  score: number;
  /**
   * Original image pixels. `rightEye`/`rightEar` are the person's right, which is on the
   * image's left for a frontal, unmirrored photo (rightEye.x < leftEye.x).
   */
  keypoints: { rightEye: Point; leftEye: Point; nose: Point; mouth: Point; rightEar: Point; leftEar: Point };
}

/**
 * Size of a `width` x `height` photo scaled to fit a `size` square (aspect kept, rounded, at least
 * 1 px) and the offsets that centre it there.
 */
export function letterboxRect(
  width: number,
  height: number,
  size: number,
): { w: number; h: number; padX: number; padY: number } {
  const scale = size / Math.max(width, height);
  const w = Math.max(1, Math.min(size, Math.round(width * scale)));
  const h = Math.max(1, Math.min(size, Math.round(height * scale)));
  return { w, h, padX: Math.floor((size - w) / 2), padY: Math.floor((size - h) / 2) };
}

/** The photo's packed RGB resized to `w` x `h` (aspect not kept); its own pixels when it already has that size. */
export async function resizeRgb(image: RgbImage, w: number, h: number): Promise<Buffer | Uint8Array> {
  const { width, height, data } = image;
  if (w === width && h === height) return data;
  return sharp(data, { raw: { width, height, channels: 3 } })
    .resize(w, h, { fit: 'fill' })
    .raw()
    .toBuffer();
}

export interface FaceDetector {
  /** Faces sorted by score, highest first. */
  detect(image: RgbImage): Promise<Face[]>;
  /**
   * The whole-photo pass on the photo turned upside down, mapped back: an upside-down face scores
   * higher here than in detect() (0.88 against 0.72 on the astronaut), and its keypoints are right.
   */
  detectUpsideDown(image: RgbImage): Promise<Face[]>;
  /** Execution provider the model runs on. */
  provider: string;
}

export interface FaceDetectorOptions {
  providers: string[];
  /** Minimum detection score, 0..1 exclusive. Default 0.6. */
  scoreThreshold?: number;
  /** The tile pass for faces under a tenth of the photo. Default on; off gives the whole-photo pass alone (benchmarks compare the two). */
  smallFaces?: boolean;
  logger?: ModelLogger;
}

const MODEL_ID = 'blazeface-back-256';
const SIZE = 256;
const NUM_ANCHORS = 896;
const VALUES_PER_ANCHOR = 16; // cx, cy, w, h, then 6 keypoints (x, y)
const IOU_THRESHOLD = 0.3;
const LOGIT_CLAMP = 100;
const DEFAULT_SCORE_THRESHOLD = 0.6;
/** A face the whole-photo pass is this sure of, and at least this large, needs no tile pass. */
const SURE_SCORE = 0.6;
const SURE_FRACTION = 0.1;
/** Tile pass: the photo's shorter side after scaling, the overlap between tiles, and the largest enlargement. */
const TILE_SHORT_SIDE = 448;
const TILE_OVERLAP = 64;
const MAX_TILE_UPSCALE = 2;

/**
 * Anchor centres in input pixels, as [x0, y0, x1, y1, ...]. Order matches the model outputs:
 * the 16x16 grid (2 anchors a cell) then the 8x8 grid (6 anchors a cell), each row-major
 * (y, then x) with the anchors of one cell consecutive.
 */
const ANCHORS: Float32Array = (() => {
  const out = new Float32Array(NUM_ANCHORS * 2);
  let i = 0;
  for (const [grid, perCell] of [
    [16, 2],
    [8, 6],
  ] as const) {
    for (let y = 0; y < grid; y++) {
      for (let x = 0; x < grid; x++) {
        for (let a = 0; a < perCell; a++) {
          out[i++] = ((x + 0.5) / grid) * SIZE;
          out[i++] = ((y + 0.5) / grid) * SIZE;
        }
      }
    }
  }
  return out;
})();

/** A raw detection in 256x256 input pixels: [xmin, ymin, xmax, ymax, kp0x, kp0y, ... kp5x, kp5y]. */
interface Candidate {
  score: number;
  geom: Float64Array;
}

const GEOM_LEN = 4 + 12;

/**
 * Where one model input came from: input pixel (x, y) is photo pixel
 * ((x - padX) / sx + offX, (y - padY) / sy + offY).
 */
interface Placement {
  sx: number;
  sy: number;
  padX: number;
  padY: number;
  offX: number;
  offY: number;
}

/** Packed RGB pixels into the model's [-1, 1] input at (dx, dy); the rest stays black (-1), as MediaPipe's zero-border letterbox. */
function toTensor(
  pixels: Buffer | Uint8Array,
  rowWidth: number,
  x0: number,
  y0: number,
  w: number,
  h: number,
  dx: number,
  dy: number,
): Float32Array {
  const tensor = new Float32Array(SIZE * SIZE * 3).fill(-1);
  const k = 1 / 127.5;
  for (let y = 0; y < h; y++) {
    let src = ((y + y0) * rowWidth + x0) * 3;
    let dst = ((y + dy) * SIZE + dx) * 3;
    const end = src + w * 3;
    while (src < end) tensor[dst++] = pixels[src++] * k - 1;
  }
  return tensor;
}

/**
 * The photo scaled once so its shorter side is TILE_SHORT_SIDE (a face of 3 % of that side is then
 * about 13 px, the smallest BlazeFace finds reliably): the whole-photo pass and the tiles both read
 * it, so a 12-MP photo is resized once.
 */
interface Working {
  small: RgbImage;
  /** Working pixels per photo pixel. */
  sx: number;
  sy: number;
}

async function working(image: RgbImage): Promise<Working> {
  const scale = Math.min(MAX_TILE_UPSCALE, TILE_SHORT_SIDE / Math.min(image.width, image.height));
  const W = Math.max(SIZE, Math.round(image.width * scale));
  const H = Math.max(SIZE, Math.round(image.height * scale));
  return {
    small: { data: await resizeRgb(image, W, H), width: W, height: H },
    sx: W / image.width,
    sy: H / image.height,
  };
}

async function letterbox({ small, sx, sy }: Working): Promise<{ tensor: Float32Array; placement: Placement }> {
  const { width, height } = small;
  const { w, h, padX, padY } = letterboxRect(width, height, SIZE);
  const pixels = await resizeRgb(small, w, h);
  return {
    tensor: toTensor(pixels, w, 0, 0, w, h, padX, padY),
    placement: { sx: (w / width) * sx, sy: (h / height) * sy, padX, padY, offX: 0, offY: 0 },
  };
}

/** The second pass for small faces: the working image cut into overlapping model-sized tiles. */
function tiles({ small, sx, sy }: Working): {
  tensor: Float32Array;
  placement: Placement;
  inner: { x0: boolean; y0: boolean; x1: boolean; y1: boolean };
}[] {
  const { width: W, height: H, data: pixels } = small;
  // As few tiles as cover the side with at least TILE_OVERLAP between neighbours, evenly spaced.
  const starts = (n: number) => {
    const count = Math.max(1, Math.ceil((n - TILE_OVERLAP) / (SIZE - TILE_OVERLAP)));
    return Array.from({ length: count }, (_, i) => (count === 1 ? 0 : Math.round((i * (n - SIZE)) / (count - 1))));
  };
  const out = [];
  for (const y of starts(H)) {
    for (const x of starts(W)) {
      const w = Math.min(SIZE, W - x),
        h = Math.min(SIZE, H - y);
      out.push({
        tensor: toTensor(pixels, W, x, y, w, h, 0, 0),
        placement: { sx, sy, padX: 0, padY: 0, offX: x / sx, offY: y / sy },
        // Which tile edges lie inside the photo: a detection touching one is a face cut by the tile, found whole by a neighbour.
        inner: { x0: x > 0, y0: y > 0, x1: x + w < W, y1: y + h < H },
      });
    }
  }
  return out;
}

function iou(a: Float64Array, b: Float64Array): number {
  const ix = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const iy = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (ix <= 0 || iy <= 0) return 0;
  const inter = ix * iy;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

/** Decodes the anchors of one output head whose score passes `minLogit`, in input pixels. */
function decode(
  scores: Float32Array,
  boxes: Float32Array,
  anchorOffset: number,
  minLogit: number,
  out: Candidate[],
): void {
  for (let i = 0; i < scores.length; i++) {
    const logit = scores[i];
    if (!(logit > minLogit)) continue; // also drops NaN
    const clamped = Math.max(-LOGIT_CLAMP, Math.min(LOGIT_CLAMP, logit));
    const score = 1 / (1 + Math.exp(-clamped));
    const ax = ANCHORS[(anchorOffset + i) * 2];
    const ay = ANCHORS[(anchorOffset + i) * 2 + 1];
    const o = i * VALUES_PER_ANCHOR;
    const cx = ax + boxes[o];
    const cy = ay + boxes[o + 1];
    const hw = boxes[o + 2] / 2;
    const hh = boxes[o + 3] / 2;
    const geom = new Float64Array(GEOM_LEN);
    geom[0] = cx - hw;
    geom[1] = cy - hh;
    geom[2] = cx + hw;
    geom[3] = cy + hh;
    for (let k = 0; k < 6; k++) {
      geom[4 + 2 * k] = ax + boxes[o + 4 + 2 * k];
      geom[5 + 2 * k] = ay + boxes[o + 5 + 2 * k];
    }
    out.push({ score, geom });
  }
}

/** Input pixels to photo pixels, in place. */
function place(c: Candidate, p: Placement): Candidate {
  for (let j = 0; j < GEOM_LEN; j += 2) {
    c.geom[j] = (c.geom[j] - p.padX) / p.sx + p.offX;
    c.geom[j + 1] = (c.geom[j + 1] - p.padY) / p.sy + p.offY;
  }
  return c;
}

/**
 * MediaPipe-style weighted non-maximum suppression: the best remaining detection takes every
 * detection overlapping it by IoU > 0.3; the result is their score-weighted average with the
 * best one's score.
 */
function weightedNms(candidates: Candidate[]): Candidate[] {
  const remaining = candidates.slice().sort((a, b) => b.score - a.score);
  const out: Candidate[] = [];
  while (remaining.length > 0) {
    const best = remaining[0];
    const acc = new Float64Array(GEOM_LEN);
    let total = 0;
    const rest: Candidate[] = [];
    for (const c of remaining) {
      if (c === best || iou(best.geom, c.geom) > IOU_THRESHOLD) {
        for (let j = 0; j < GEOM_LEN; j++) acc[j] += c.geom[j] * c.score;
        total += c.score;
      } else {
        rest.push(c);
      }
    }
    for (let j = 0; j < GEOM_LEN; j++) acc[j] /= total;
    out.push({ score: best.score, geom: acc });
    remaining.length = 0;
    remaining.push(...rest);
  }
  return out;
}

/** A candidate already in photo pixels. */
function toFace(c: Candidate): Face {
  const g = c.geom;
  const pt = (k: number): Point => ({ x: g[4 + 2 * k], y: g[5 + 2 * k] });
  return {
    box: { x: g[0], y: g[1], width: g[2] - g[0], height: g[3] - g[1] },
    score: c.score,
    keypoints: { rightEye: pt(0), leftEye: pt(1), nose: pt(2), mouth: pt(3), rightEar: pt(4), leftEar: pt(5) },
  };
}

export async function createFaceDetector(opts: FaceDetectorOptions): Promise<FaceDetector> {
  const threshold = opts.scoreThreshold ?? DEFAULT_SCORE_THRESHOLD;
  if (!(threshold > 0 && threshold < 1)) {
    throw new Error(`face detector: scoreThreshold must be between 0 and 1 exclusive, got ${threshold}`);
  }
  const minLogit = Math.log(threshold / (1 - threshold));

  const entry = getModel(MODEL_ID);
  const { session, provider } = await openModel(MODEL_ID, opts);
  const inputName = entry.input.name;
  const [scores16, scores8, boxes16, boxes8] = entry.outputs;

  const run = async (tensor: Float32Array, placement: Placement): Promise<Candidate[]> => {
    const result = await session.run({ [inputName]: new ort.Tensor('float32', tensor, [1, SIZE, SIZE, 3]) });
    const found: Candidate[] = [];
    decode(result[scores16].data as Float32Array, result[boxes16].data as Float32Array, 0, minLogit, found);
    decode(result[scores8].data as Float32Array, result[boxes8].data as Float32Array, 512, minLogit, found);
    return found.map((c) => place(c, placement));
  };

  return {
    provider,
    async detect(image: RgbImage): Promise<Face[]> {
      checkRgbImage(image, 'face detector');
      const work = await working(image);
      const whole = await letterbox(work);
      const candidates = await run(whole.tensor, whole.placement);
      // Small faces (under about a tenth of the shorter side) are a few input pixels in the
      // whole-photo pass: unless it found a clear, large face, look again tile by tile.
      const short = Math.min(image.width, image.height);
      const sure = weightedNms(candidates).some(
        (c) => c.score >= SURE_SCORE && c.geom[2] - c.geom[0] >= SURE_FRACTION * short,
      );
      if (!sure && opts.smallFaces !== false) {
        for (const tile of tiles(work)) {
          const { sx, sy, offX, offY } = tile.placement;
          const x0 = offX,
            y0 = offY,
            x1 = offX + SIZE / sx,
            y1 = offY + SIZE / sy;
          const edge = 2 / sx;
          for (const c of await run(tile.tensor, tile.placement)) {
            const g = c.geom;
            const cut =
              (tile.inner.x0 && g[0] < x0 + edge) ||
              (tile.inner.y0 && g[1] < y0 + edge) ||
              (tile.inner.x1 && g[2] > x1 - edge) ||
              (tile.inner.y1 && g[3] > y1 - edge);
            if (!cut) candidates.push(c);
          }
        }
      }
      return weightedNms(candidates).map(toFace);
    },
    async detectUpsideDown(image: RgbImage): Promise<Face[]> {
      checkRgbImage(image, 'face detector');
      const whole = await letterbox(await working(image));
      // Turning the input 180° reverses its pixel order; an input point (x, y) is then (SIZE - x, SIZE - y) unturned.
      const turned = new Float32Array(whole.tensor.length);
      const n = SIZE * SIZE;
      for (let i = 0; i < n; i++) turned.set(whole.tensor.subarray(i * 3, i * 3 + 3), (n - 1 - i) * 3);
      const found = await run(turned, { sx: 1, sy: 1, padX: 0, padY: 0, offX: 0, offY: 0 });
      for (const c of found) {
        const g = c.geom;
        for (let j = 0; j < GEOM_LEN; j++) g[j] = SIZE - g[j];
        [g[0], g[2]] = [g[2], g[0]];
        [g[1], g[3]] = [g[3], g[1]];
        place(c, whole.placement);
      }
      return weightedNms(found).map(toFace);
    },
  };
}

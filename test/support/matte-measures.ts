/**
 * Measures of a matte and its composite (issue 20), shared by bench/matte.bench.ts and the
 * known-alpha test: IoU, mean absolute alpha difference, the band around an edge, and the colour
 * fringe (how far the composite's edge strays from a clean blend of the person's own colour with
 * the backdrop, in CIELAB a*b*).
 */
import { boxMean, composite, solidImage } from '../../models/matte';
import type { RgbImage } from '../../models/face-detector';

/** Alpha from which a pixel counts as opaque (the peer's matte rarely reaches 255). */
export const OPAQUE = 250;
/** The person's outer edge counted by the fringe figure, as a fraction of the frame's width. */
export const EDGE = 6 / 1024;
/** Grey, white and navy: the backdrops the fringe is measured on. */
export const FRINGE_BACKDROPS: [number, number, number][] = [
  [128, 130, 134],
  [244, 244, 242],
  [25, 38, 66],
];

/** Square dilation of a 0/1 map by r pixels. */
export function dilate(set: Float32Array, w: number, h: number, r: number): Float32Array {
  const out = new Float32Array(set.length);
  boxMean(set, out, w, h, r, new Float64Array(w));
  return out;
}

/** Where the matte, halved at 128, changes between neighbours, widened by r px. */
export function edgeBand(alpha: Uint8Array, w: number, h: number, r: number): Uint8Array {
  const edge = new Float32Array(alpha.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x,
        a = alpha[i] >= 128;
      if ((x + 1 < w && a !== alpha[i + 1] >= 128) || (y + 1 < h && a !== alpha[i + w] >= 128)) edge[i] = 1;
    }
  }
  const d = dilate(edge, w, h, r);
  return Uint8Array.from(d, (v) => (v > 0 ? 1 : 0));
}

export function iou(a: Uint8Array, b: Uint8Array, within?: Uint8Array): number {
  let inter = 0,
    union = 0;
  for (let i = 0; i < a.length; i++) {
    if (within && !within[i]) continue;
    const x = a[i] >= 128,
      y = b[i] >= 128;
    if (x && y) inter++;
    if (x || y) union++;
  }
  return union ? inter / union : 1;
}

export function meanAbs(a: Uint8Array, b: Uint8Array, within: Uint8Array): number {
  let s = 0,
    n = 0;
  for (let i = 0; i < a.length; i++) {
    if (!within[i]) continue;
    s += Math.abs(a[i] - b[i]);
    n++;
  }
  return n ? s / n : 0;
}

const lin = (byte: number) => {
  const v = byte / 255;
  return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
};
/** CIELAB a*, b* of an sRGB colour (D65). */
export function ab(r: number, g: number, b: number): [number, number] {
  const R = lin(r),
    G = lin(g),
    B = lin(b);
  const f = (t: number) => (t > 216 / 24389 ? Math.cbrt(t) : (t * 24389) / 27 / 116 + 16 / 116);
  const X = f((0.4124 * R + 0.3576 * G + 0.1805 * B) / 0.95047),
    Y = f(0.2126 * R + 0.7152 * G + 0.0722 * B),
    Z = f((0.0193 * R + 0.1192 * G + 0.9505 * B) / 1.08883);
  return [500 * (X - Y), 200 * (Y - Z)];
}

/**
 * The colour fringe figure (see the header), averaged over the backdrops. With `towards`, instead of
 * the distance: how far the edge leans towards that colour's a*b* hue (the mean deviation from a clean
 * blend projected on its a*b* direction; negative leans away).
 */
export function fringe(
  alpha: Uint8Array,
  colours: RgbImage,
  backdrops = FRINGE_BACKDROPS,
  towards?: [number, number, number],
): number {
  const { width: w, height: h } = colours;
  const edgePx = Math.max(2, Math.round(EDGE * w));
  // The person's interior: opaque and more than the edge width inside.
  const outside = new Float32Array(alpha.length);
  for (let i = 0; i < alpha.length; i++) outside[i] = alpha[i] < 128 ? 1 : 0;
  const nearOut = dilate(outside, w, h, edgePx);
  const interior = new Float32Array(alpha.length);
  for (let i = 0; i < alpha.length; i++) interior[i] = alpha[i] >= OPAQUE && nearOut[i] === 0 ? 1 : 0;
  // The interior's colour near each pixel (normalised box mean over 4 edge widths).
  const r = 4 * edgePx;
  const wsum = dilate(interior, w, h, r);
  const near = [0, 1, 2].map((c) => {
    const v = new Float32Array(alpha.length);
    for (let i = 0; i < alpha.length; i++) v[i] = interior[i] * colours.data[i * 3 + c];
    return dilate(v, w, h, r);
  });
  const hue = towards && ab(...towards);
  const dir = hue && ([hue[0], hue[1], Math.hypot(hue[0], hue[1])] as const);
  let total = 0,
    count = 0;
  for (const bk of backdrops) {
    const out = composite(colours, alpha, solidImage(w, h, bk));
    for (let i = 0; i < alpha.length; i++) {
      const a = alpha[i];
      const band = (a > 5 && a < OPAQUE) || (a >= 128 && nearOut[i] > 0);
      if (!band || wsum[i] < 1e-3) continue;
      const t = a / 255;
      const ref = [0, 1, 2].map((c) => t * (near[c][i] / wsum[i]) + (1 - t) * bk[c]);
      const [a1, b1] = ab(out.data[i * 3], out.data[i * 3 + 1], out.data[i * 3 + 2]);
      const [a2, b2] = ab(ref[0], ref[1], ref[2]);
      total += dir ? ((a1 - a2) * dir[0] + (b1 - b2) * dir[1]) / dir[2] : Math.hypot(a1 - a2, b1 - b2);
      count++;
    }
  }
  return count ? total / count : 0;
}

/** A rectangle [left, top, width, height] in pixels. */
export type Rect = [number, number, number, number];

/** The share of a rectangle's pixels where the matte is at least half (the person is there). */
export function shareIn(alpha: Uint8Array, width: number, [left, top, w, h]: Rect): number {
  let on = 0,
    all = 0;
  for (let y = Math.max(0, top); y < top + h && y < alpha.length / width; y++) {
    for (let x = Math.max(0, left); x < Math.min(width, left + w); x++) {
      all++;
      if (alpha[y * width + x] >= 128) on++;
    }
  }
  return all ? on / all : 0;
}

/**
 * Holes: pixels of matte below half that no path of such pixels joins to the frame's edge, so the
 * person encloses them (a pocket of backdrop inside the person). One byte a pixel, 1 in a hole.
 */
export function holes(alpha: Uint8Array, width: number, height: number): Uint8Array {
  const open = new Uint8Array(alpha.length);
  const stack = new Int32Array(alpha.length);
  let top = 0;
  const visit = (i: number) => {
    if (!open[i] && alpha[i] < 128) {
      open[i] = 1;
      stack[top++] = i;
    }
  };
  for (let x = 0; x < width; x++) {
    visit(x);
    visit((height - 1) * width + x);
  }
  for (let y = 0; y < height; y++) {
    visit(y * width);
    visit(y * width + width - 1);
  }
  while (top) {
    const i = stack[--top];
    const x = i % width;
    if (x > 0) visit(i - 1);
    if (x < width - 1) visit(i + 1);
    if (i >= width) visit(i - width);
    if (i + width < alpha.length) visit(i + width);
  }
  const out = new Uint8Array(alpha.length);
  for (let i = 0; i < alpha.length; i++) out[i] = alpha[i] < 128 && !open[i] ? 1 : 0;
  return out;
}

/** How many pixels of `set` (0/1) lie in a rectangle. */
export function countIn(set: Uint8Array, width: number, [left, top, w, h]: Rect): number {
  let n = 0;
  for (let y = Math.max(0, top); y < top + h && y < set.length / width; y++)
    for (let x = Math.max(0, left); x < Math.min(width, left + w); x++) n += set[y * width + x];
  return n;
}

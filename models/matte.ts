/**
 * Alpha matting from a coarse segmentation mask, and compositing. Pure pixel maths, no model.
 *
 * `refineMask` turns the segmenter's 256x256 person probability (models/segmenter.ts) into a
 * full-resolution alpha matte with a fast guided filter (He, Sun and Tang, "Guided Image
 * Filtering", TPAMI 2013; He and Sun, "Fast Guided Filter", 2015): the coarse mask is the filter
 * input, the photo is the guide, so the matte's edges follow the photo's edges (hair, shoulders)
 * rather than the coarse mask's. The filter runs on a grid subsampled `s` times; its linear
 * coefficients are upsampled bilinearly and applied to the full-resolution photo, so the cost is
 * O(N) in the pixel count and independent of the radius.
 */
import type { RgbImage } from './face-detector';

/** A coarse mask (e.g. a `SegmentationMask`) and where the photo lies in it. */
export interface CoarseMask {
  /** Values 0..1, row-major, width x height. */
  mask: Float32Array;
  width: number;
  height: number;
  /**
   * The rectangle of the mask (mask pixels, continuous coordinates) the whole photo maps onto.
   * Default: the whole mask.
   */
  region?: { x: number; y: number; width: number; height: number };
}

export interface RefineOptions {
  /**
   * Guided-filter radius in photo pixels. Default 8 px per 1024 px of the photo's longer side
   * (at least 2).
   */
  radius?: number;
  /** Guided-filter regularisation, guide values in 0..1. Default DEFAULT_EPS. */
  eps?: number;
  /** `rgb` (3x3 colour covariance, the default) or `luma`. */
  guide?: 'rgb' | 'luma';
  /**
   * Subsampling factor of the fast guided filter. Default floor(radius / 2), at least 1 (4 at
   * 1024 px: the filter grid is then about as fine as the 256 px coarse mask). At 1024 px, s = 4
   * differed from the unsubsampled filter by 0.15/255 on average (0.04 for s = 2).
   */
  subsample?: number;
  /**
   * Contrast curve on the filtered alpha: smoothstep from `[lo, hi]` to 0..1, so that the
   * background goes fully transparent and the body fully opaque. `false` clamps only.
   * Default DEFAULT_CURVE.
   */
  curve?: [number, number] | false;
}

/**
 * Measured on astronaut.png cut out with a known hard mask and composited onto five other
 * backgrounds (the other fixtures, a colour gradient, flat grey), at 512 and 1024 px, with a
 * scratch script: alpha error within 12 px of the edge fell
 * steadily with eps (mean absolute error 0-255 at 1024: coarse mask with the same curve 27.7,
 * eps 3e-2 26.9, 1e-2 26.1, 4e-3 25.6, 2e-3 25.3, 1e-3 25.0; the luma guide 27.0-27.9). Those
 * edges are hard cuts, which favour a small eps; on the real photo's soft hair 1e-3, 4e-3 and
 * 1e-2 looked alike. 2e-3 is between.
 */
export const DEFAULT_EPS = 2e-3;
export const DEFAULT_CURVE: readonly [number, number] = [0.2, 0.8];
const RADIUS_PER_1024 = 8;

function checkImage(image: RgbImage, what: string): void {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`matte: invalid ${what} size ${width}x${height}`);
  }
  if (data.length !== width * height * 3) {
    throw new Error(
      `matte: ${what} must be packed RGB (${width}x${height}x3 = ${width * height * 3} bytes), got ${data.length} bytes`,
    );
  }
}

function checkMask(coarse: CoarseMask): void {
  const { mask, width, height } = coarse;
  if (
    !Number.isInteger(width) ||
    !Number.isInteger(height) ||
    width <= 0 ||
    height <= 0 ||
    mask.length !== width * height
  ) {
    throw new Error(`matte: coarse mask must hold width x height values (${width}x${height}), got ${mask.length}`);
  }
  const r = coarse.region;
  if (r && !(r.width > 0 && r.height > 0 && Number.isFinite(r.x) && Number.isFinite(r.y))) {
    throw new Error('matte: coarse mask region is empty or invalid');
  }
}

/**
 * Mean over a (2r+1)x(2r+1) window clipped to the image (each output divided by the number of
 * pixels actually inside), O(N): a running column sum over rows, then a running sum along each
 * row. `col` is a scratch buffer of at least `w` values.
 */
export function boxMean(
  src: Float32Array,
  dst: Float32Array,
  w: number,
  h: number,
  r: number,
  col: Float64Array,
): void {
  col.fill(0, 0, w);
  const rr = Math.min(r, h - 1);
  for (let y = 0; y <= rr; y++) {
    const o = y * w;
    for (let x = 0; x < w; x++) col[x] += src[o + x];
  }
  const rx = Math.min(r, w - 1);
  for (let y = 0; y < h; y++) {
    const ny = Math.min(y + r, h - 1) - Math.max(y - r, 0) + 1;
    const o = y * w;
    // Horizontal running sum over the column sums.
    let s = 0;
    for (let x = 0; x <= rx; x++) s += col[x];
    let x = 0;
    // Left border: window [0, x + r].
    for (; x <= r && x < w; x++) {
      const nx = Math.min(x + r, w - 1) + 1;
      dst[o + x] = s / (nx * ny);
      if (x + r + 1 < w) s += col[x + r + 1];
    }
    // Interior: full window.
    const inv = 1 / ((2 * r + 1) * ny);
    for (; x + r < w; x++) {
      s -= col[x - r - 1];
      dst[o + x] = s * inv;
      if (x + r + 1 < w) s += col[x + r + 1];
    }
    // Right border.
    for (; x < w; x++) {
      s -= col[x - r - 1];
      dst[o + x] = s / ((w - (x - r)) * ny);
    }
    // Slide the column window down one row.
    if (y + r + 1 < h) {
      const a = (y + r + 1) * w;
      for (let i = 0; i < w; i++) col[i] += src[a + i];
    }
    if (y - r >= 0) {
      const d = (y - r) * w;
      for (let i = 0; i < w; i++) col[i] -= src[d + i];
    }
  }
}

/** Per output column (or row) of a resampling: the two source indices and the weight of the second. */
interface Taps {
  i0: Int32Array;
  i1: Int32Array;
  f: Float32Array;
}

/** Bilinear taps for `n` output samples whose centres sit at source coordinate `offset + (i + 0.5) * step` (continuous). */
function taps(n: number, srcLen: number, offset: number, step: number): Taps {
  const i0 = new Int32Array(n);
  const i1 = new Int32Array(n);
  const f = new Float32Array(n);
  const max = srcLen - 1;
  for (let i = 0; i < n; i++) {
    const u = offset + (i + 0.5) * step - 0.5; // source index coordinates (centres at integers)
    const u0 = Math.floor(u);
    const t = u - u0;
    i0[i] = u0 < 0 ? 0 : u0 > max ? max : u0;
    i1[i] = u0 + 1 < 0 ? 0 : u0 + 1 > max ? max : u0 + 1;
    f[i] = t;
  }
  return { i0, i1, f };
}

/**
 * Samples the coarse mask bilinearly on a `gw` x `gh` grid whose cells are `cell` photo pixels
 * (cell 1: one value per photo pixel).
 */
function sampleMask(
  coarse: CoarseMask,
  imageWidth: number,
  imageHeight: number,
  gw: number,
  gh: number,
  cell: number,
): Float32Array {
  const region = coarse.region ?? { x: 0, y: 0, width: coarse.width, height: coarse.height };
  const kx = region.width / imageWidth;
  const ky = region.height / imageHeight;
  const tx = taps(gw, coarse.width, region.x, cell * kx);
  const ty = taps(gh, coarse.height, region.y, cell * ky);
  const out = new Float32Array(gw * gh);
  const m = coarse.mask;
  const mw = coarse.width;
  const row = new Float32Array(coarse.width);
  for (let y = 0; y < gh; y++) {
    const r0 = ty.i0[y] * mw;
    const r1 = ty.i1[y] * mw;
    const fy = ty.f[y];
    for (let x = 0; x < mw; x++) row[x] = m[r0 + x] + (m[r1 + x] - m[r0 + x]) * fy;
    const o = y * gw;
    for (let x = 0; x < gw; x++) {
      const a = row[tx.i0[x]];
      out[o + x] = a + (row[tx.i1[x]] - a) * tx.f[x];
    }
  }
  return out;
}

/** The coarse mask resampled bilinearly to the photo's full resolution (values 0..1): the baseline `refineMask` improves on. */
export function upsampleMask(coarse: CoarseMask, imageWidth: number, imageHeight: number): Float32Array {
  checkMask(coarse);
  return sampleMask(coarse, imageWidth, imageHeight, imageWidth, imageHeight, 1);
}

/** `mask` (0..1) as alpha 0..255, optionally through the contrast curve. */
export function maskToAlpha(mask: Float32Array, curve: [number, number] | false = false): Uint8Array {
  const out = new Uint8Array(mask.length);
  const [lo, hi] = curve || [0, 1];
  const k = 1 / (hi - lo);
  for (let i = 0; i < mask.length; i++) {
    let t = (mask[i] - lo) * k;
    t = t > 0 ? (t < 1 ? t : 1) : 0; // NaN -> 0
    if (curve) t = t * t * (3 - 2 * t);
    out[i] = (t * 255 + 0.5) | 0;
  }
  return out;
}

/** The photo averaged over cell x cell blocks (partial blocks at the right and bottom edges averaged over what they hold), 0..1. */
function downsampleRgb(image: RgbImage, s: number, gw: number, gh: number): [Float32Array, Float32Array, Float32Array] {
  const { data, width, height } = image;
  const R = new Float32Array(gw * gh);
  const G = new Float32Array(gw * gh);
  const B = new Float32Array(gw * gh);
  for (let gy = 0; gy < gh; gy++) {
    const y0 = gy * s;
    const y1 = Math.min(y0 + s, height);
    for (let y = y0; y < y1; y++) {
      let p = y * width * 3;
      const o = gy * gw;
      for (let gx = 0; gx < gw; gx++) {
        const n = Math.min(s, width - gx * s);
        let r = 0;
        let g = 0;
        let b = 0;
        for (let k = 0; k < n; k++, p += 3) {
          r += data[p];
          g += data[p + 1];
          b += data[p + 2];
        }
        R[o + gx] += r;
        G[o + gx] += g;
        B[o + gx] += b;
      }
    }
    const rows = y1 - y0;
    const o = gy * gw;
    for (let gx = 0; gx < gw; gx++) {
      const k = 1 / (255 * rows * Math.min(s, width - gx * s));
      R[o + gx] *= k;
      G[o + gx] *= k;
      B[o + gx] *= k;
    }
  }
  return [R, G, B];
}

const LUMA_R = 0.299;
const LUMA_G = 0.587;
const LUMA_B = 0.114;

/** Resolved refine parameters for a photo of this size. */
export function refineParams(
  width: number,
  height: number,
  opts: RefineOptions = {},
): { radius: number; eps: number; subsample: number; guide: 'rgb' | 'luma'; curve: [number, number] | false } {
  const radius = opts.radius ?? Math.max(2, Math.round((RADIUS_PER_1024 * Math.max(width, height)) / 1024));
  if (!(radius >= 1 && Number.isFinite(radius))) throw new Error(`matte: radius must be at least 1, got ${radius}`);
  const eps = opts.eps ?? DEFAULT_EPS;
  if (!(eps > 0 && Number.isFinite(eps))) throw new Error(`matte: eps must be positive, got ${eps}`);
  const subsample = Math.round(opts.subsample ?? Math.max(1, Math.floor(radius / 2)));
  if (!(subsample >= 1 && subsample <= radius))
    throw new Error(`matte: subsample must be between 1 and the radius (${radius}), got ${subsample}`);
  const guide = opts.guide ?? 'rgb';
  if (guide !== 'rgb' && guide !== 'luma') throw new Error(`matte: unknown guide '${String(guide)}'`);
  const curve = opts.curve ?? ([DEFAULT_CURVE[0], DEFAULT_CURVE[1]] as [number, number]);
  if (curve && !(curve[0] >= 0 && curve[1] <= 1 && curve[0] < curve[1])) {
    throw new Error(`matte: curve must be [lo, hi] with 0 <= lo < hi <= 1, got [${curve.join(', ')}]`);
  }
  return { radius, eps, subsample, guide, curve };
}

/**
 * Full-resolution alpha (0..255, one byte per photo pixel, row-major) from a coarse mask: a fast
 * guided filter with the photo as guide, then the contrast curve. `coarse` is usually the
 * segmenter's `SegmentationMask` for this same photo.
 */
export function refineMask(image: RgbImage, coarse: CoarseMask, opts: RefineOptions = {}): Uint8Array {
  checkImage(image, 'image');
  checkMask(coarse);
  const { width, height, data } = image;
  const { radius, eps, subsample: s, guide, curve } = refineParams(width, height, opts);

  // Low-resolution grid.
  const gw = Math.ceil(width / s);
  const gh = Math.ceil(height / s);
  const n = gw * gh;
  const r = Math.max(1, Math.round(radius / s));
  const col = new Float64Array(gw);
  const [R, G, B] = downsampleRgb(image, s, gw, gh);
  const p = sampleMask(coarse, width, height, gw, gh, s);
  const meanP = new Float32Array(n);
  boxMean(p, meanP, gw, gh, r, col);

  // Coefficient maps, box-averaged: q = ar*R + ag*G + ab*B + b (luma: q = ar*Y + b).
  let maps: Float32Array[];
  if (guide === 'luma') {
    const tmp = new Float32Array(n);
    const Y = R;
    for (let i = 0; i < n; i++) Y[i] = LUMA_R * R[i] + LUMA_G * G[i] + LUMA_B * B[i];
    const mI = new Float32Array(n);
    const mII = new Float32Array(n);
    const mIp = new Float32Array(n);
    boxMean(Y, mI, gw, gh, r, col);
    for (let i = 0; i < n; i++) tmp[i] = Y[i] * Y[i];
    boxMean(tmp, mII, gw, gh, r, col);
    for (let i = 0; i < n; i++) tmp[i] = Y[i] * p[i];
    boxMean(tmp, mIp, gw, gh, r, col);
    const a = mII; // reused
    const b = mIp;
    for (let i = 0; i < n; i++) {
      const varI = mII[i] - mI[i] * mI[i];
      const cov = mIp[i] - mI[i] * meanP[i];
      const ai = cov / (varI + eps);
      a[i] = ai;
      b[i] = meanP[i] - ai * mI[i];
    }
    const ma = mI; // reused
    const mb = p;
    boxMean(a, ma, gw, gh, r, col);
    boxMean(b, mb, gw, gh, r, col);
    maps = [ma, mb];
  } else {
    // Products of the guide channels with the input and with each other (one pass), then their box means.
    const prod = Array.from({ length: 9 }, () => new Float32Array(n));
    const [pRp, pGp, pBp, pRR, pRG, pRB, pGG, pGB, pBB] = prod;
    for (let i = 0; i < n; i++) {
      const ri = R[i];
      const gi = G[i];
      const bi = B[i];
      const pi = p[i];
      pRp[i] = ri * pi;
      pGp[i] = gi * pi;
      pBp[i] = bi * pi;
      pRR[i] = ri * ri;
      pRG[i] = ri * gi;
      pRB[i] = ri * bi;
      pGG[i] = gi * gi;
      pGB[i] = gi * bi;
      pBB[i] = bi * bi;
    }
    const mean = (src: Float32Array): Float32Array => {
      const out = new Float32Array(n);
      boxMean(src, out, gw, gh, r, col);
      return out;
    };
    const mR = mean(R);
    const mG = mean(G);
    const mB = mean(B);
    const [mRp, mGp, mBp, vRR, vRG, vRB, vGG, vGB, vBB] = prod.map(mean);
    // Solve (Sigma + eps I) a = cov(I, p) per pixel; results written over the R, G, B, p buffers.
    const aR = R;
    const aG = G;
    const aB = B;
    const bb = p;
    for (let i = 0; i < n; i++) {
      const mr = mR[i];
      const mg = mG[i];
      const mb = mB[i];
      const mp = meanP[i];
      const crp = mRp[i] - mr * mp;
      const cgp = mGp[i] - mg * mp;
      const cbp = mBp[i] - mb * mp;
      const rr = vRR[i] - mr * mr + eps;
      const rg = vRG[i] - mr * mg;
      const rb = vRB[i] - mr * mb;
      const gg = vGG[i] - mg * mg + eps;
      const gb = vGB[i] - mg * mb;
      const b2 = vBB[i] - mb * mb + eps;
      // Inverse of the symmetric 3x3 matrix by cofactors.
      const i00 = gg * b2 - gb * gb;
      const i01 = gb * rb - rg * b2;
      const i02 = rg * gb - gg * rb;
      const i11 = rr * b2 - rb * rb;
      const i12 = rb * rg - rr * gb;
      const i22 = rr * gg - rg * rg;
      const det = rr * i00 + rg * i01 + rb * i02;
      const k = det > 0 ? 1 / det : 0; // Sigma + eps I is positive definite; guards float round-off
      const ar = (i00 * crp + i01 * cgp + i02 * cbp) * k;
      const ag = (i01 * crp + i11 * cgp + i12 * cbp) * k;
      const ab = (i02 * crp + i12 * cgp + i22 * cbp) * k;
      aR[i] = ar;
      aG[i] = ag;
      aB[i] = ab;
      bb[i] = mp - ar * mr - ag * mg - ab * mb;
    }
    // Reuse the mean buffers for the box-averaged coefficients.
    boxMean(aR, mR, gw, gh, r, col);
    boxMean(aG, mG, gw, gh, r, col);
    boxMean(aB, mB, gw, gh, r, col);
    boxMean(bb, mRp, gw, gh, r, col);
    maps = [mR, mG, mB, mRp];
  }

  // Upsample the coefficients bilinearly and apply them to the full-resolution photo.
  const tx = taps(width, gw, 0, 1 / s);
  const ty = taps(height, gh, 0, 1 / s);
  const m = maps.length;
  const rows = maps.map(() => new Float32Array(gw));
  const out = new Uint8Array(width * height);
  const [lo, hi] = curve || [0, 1];
  const kc = 1 / (hi - lo);
  const smooth = curve !== false;
  const k255 = 1 / 255;
  const { i0: x0s, i1: x1s, f: fxs } = tx;
  for (let y = 0; y < height; y++) {
    const r0 = ty.i0[y] * gw;
    const r1 = ty.i1[y] * gw;
    const fy = ty.f[y];
    for (let j = 0; j < m; j++) {
      const src = maps[j];
      const row = rows[j];
      for (let x = 0; x < gw; x++) row[x] = src[r0 + x] + (src[r1 + x] - src[r0 + x]) * fy;
    }
    let o = y * width;
    let d = o * 3;
    if (m === 4) {
      const [ra, ga, ba, bb] = rows;
      for (let x = 0; x < width; x++, o++, d += 3) {
        const x0 = x0s[x];
        const x1 = x1s[x];
        const fx = fxs[x];
        const a0 = ra[x0] + (ra[x1] - ra[x0]) * fx;
        const a1 = ga[x0] + (ga[x1] - ga[x0]) * fx;
        const a2 = ba[x0] + (ba[x1] - ba[x0]) * fx;
        const b0 = bb[x0] + (bb[x1] - bb[x0]) * fx;
        const q = (a0 * data[d] + a1 * data[d + 1] + a2 * data[d + 2]) * k255 + b0;
        let t = (q - lo) * kc;
        t = t > 0 ? (t < 1 ? t : 1) : 0;
        if (smooth) t = t * t * (3 - 2 * t);
        out[o] = (t * 255 + 0.5) | 0;
      }
    } else {
      const [ya, bb] = rows;
      for (let x = 0; x < width; x++, o++, d += 3) {
        const x0 = x0s[x];
        const x1 = x1s[x];
        const fx = fxs[x];
        const a0 = ya[x0] + (ya[x1] - ya[x0]) * fx;
        const b0 = bb[x0] + (bb[x1] - bb[x0]) * fx;
        const q = a0 * (LUMA_R * data[d] + LUMA_G * data[d + 1] + LUMA_B * data[d + 2]) * k255 + b0;
        let t = (q - lo) * kc;
        t = t > 0 ? (t < 1 ? t : 1) : 0;
        if (smooth) t = t * t * (3 - 2 * t);
        out[o] = (t * 255 + 0.5) | 0;
      }
    }
  }
  return out;
}

export interface CompositeOptions {
  /**
   * Multipliers on the foreground's R, G, B before blending: the person's light matched to the
   * backdrop's (worker/light.ts). Default [1, 1, 1].
   */
  gain?: readonly [number, number, number];
  /**
   * Light wrap: how far the backdrop's colour reaches into the person's edge (0..1), per pixel
   * `rim` (0..255, where the edge is). Default none.
   */
  wrap?: { strength: number; rim: Uint8Array };
}

/** A width x height image of one colour. */
export function solidImage(width: number, height: number, rgb: [number, number, number]): RgbImage {
  const data = Buffer.allocUnsafe(width * height * 3);
  for (let i = 0; i < data.length; i += 3) {
    data[i] = rgb[0];
    data[i + 1] = rgb[1];
    data[i + 2] = rgb[2];
  }
  return { data, width, height };
}

/**
 * Straight alpha blend of `foreground` over `background` (same size): out = a*F + (1-a)*B, with
 * alpha 0..255 per pixel. Where alpha is 255 (and no gain or wrap) the output is the foreground
 * pixel exactly, where it is 0 the background pixel exactly.
 */
export function composite(
  foreground: RgbImage,
  alpha: Uint8Array,
  background: RgbImage,
  opts: CompositeOptions = {},
): RgbImage {
  const out = Buffer.allocUnsafe(foreground.data.length);
  blend(foreground, alpha, background, opts, (_i, d, o0, o1, o2) => {
    // Uint8 stores truncate; +0.5 rounds.
    out[d] = o0 + 0.5;
    out[d + 1] = o1 + 0.5;
    out[d + 2] = o2 + 0.5;
  });
  return { data: out, width: foreground.width, height: foreground.height };
}

/**
 * `composite`, written as planar 0..1 floats (R plane, G plane, B plane) into `out`: what the style
 * graph takes, without the packed image in between. Each value is exactly the packed composite's
 * byte / 255.
 */
export function compositePlanar(
  foreground: RgbImage,
  alpha: Uint8Array,
  background: RgbImage,
  out: Float32Array,
  opts: CompositeOptions = {},
): Float32Array {
  const n = foreground.width * foreground.height;
  if (out.length !== n * 3) throw new Error(`matte: planar output must hold ${n * 3} values, got ${out.length}`);
  blend(foreground, alpha, background, opts, (i, _d, o0, o1, o2) => {
    out[i] = ((o0 + 0.5) | 0) / 255;
    out[n + i] = ((o1 + 0.5) | 0) / 255;
    out[2 * n + i] = ((o2 + 0.5) | 0) / 255;
  });
  return out;
}

/** The blend of `composite`, each output pixel (index, byte offset, unrounded R, G, B) handed to `put`. */
function blend(
  foreground: RgbImage,
  alpha: Uint8Array,
  background: RgbImage,
  opts: CompositeOptions,
  put: (i: number, d: number, o0: number, o1: number, o2: number) => void,
): void {
  checkImage(foreground, 'foreground');
  checkImage(background, 'background');
  const { width, height } = foreground;
  if (background.width !== width || background.height !== height) {
    throw new Error(`matte: background is ${background.width}x${background.height}, foreground ${width}x${height}`);
  }
  if (alpha.length !== width * height)
    throw new Error(`matte: alpha must hold ${width * height} values, got ${alpha.length}`);
  const [g0, g1, g2] = opts.gain ?? [1, 1, 1];
  if (![g0, g1, g2].every((g) => g > 0 && Number.isFinite(g)))
    throw new Error('matte: gain must be three positive numbers');
  const wrap = opts.wrap;
  if (wrap && !(wrap.strength >= 0 && wrap.strength <= 1 && wrap.rim.length === alpha.length))
    throw new Error('matte: wrap must have a strength 0..1 and a rim value a pixel');
  const plain = g0 === 1 && g1 === 1 && g2 === 1;
  const k = wrap ? wrap.strength / 255 : 0;
  const F = foreground.data;
  const Bk = background.data;
  for (let i = 0, d = 0; i < alpha.length; i++, d += 3) {
    const a = alpha[i];
    if (a === 0) {
      put(i, d, Bk[d], Bk[d + 1], Bk[d + 2]);
      continue;
    }
    let f0 = F[d],
      f1 = F[d + 1],
      f2 = F[d + 2];
    if (!plain) {
      f0 = Math.min(255, f0 * g0);
      f1 = Math.min(255, f1 * g1);
      f2 = Math.min(255, f2 * g2);
    }
    const af = a / 255,
      ib = 1 - af;
    let o0 = f0 * af + Bk[d] * ib,
      o1 = f1 * af + Bk[d + 1] * ib,
      o2 = f2 * af + Bk[d + 2] * ib;
    const w = k * (wrap ? wrap.rim[i] : 0);
    if (w > 0) {
      o0 += (Bk[d] - o0) * w;
      o1 += (Bk[d + 1] - o1) * w;
      o2 += (Bk[d + 2] - o2) * w;
    }
    put(i, d, o0, o1, o2);
  }
}

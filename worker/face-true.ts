import type { Point, RgbImage } from '../models/face-detector';
import type { FivePoints } from '../core/photos/verdict';

/**
 * The face-true check: every feature of the face (eyes, nose tip and corners, mouth corners and
 * lips) must sit in the render where the photo's own pixels put it through the frame's
 * similarity map. Each feature's displacement is measured by registering a patch of the render
 * against the same patch of the reference (docs/pipeline.md, "Face-true check"), and the error is the
 * largest displacement over the inter-ocular distance (IOD), so it does not depend on size.
 *
 * Why patches and not a landmark model on the render: FaceMesh's shape prior barely follows a
 * local change (an eye moved by 5 % of the IOD moved its landmarks by about 1.5 %, a nose widened
 * by 5 % by 0.3 %), while its noise between a photo and a recoloured render reached 4 %, so no
 * landmark tolerance both passes every real face and catches a 5 % change. A patch match finds
 * the displacement itself, to a tenth of a pixel.
 *
 * Blind to light and colour: both sides are luminance, band-passed (what remains is edges and
 * texture, not shading or a key light), and compared by normalised correlation (any gain and
 * offset of brightness or contrast matches equally).
 */
export type { FivePoints };

export function interOcular(p: FivePoints): number {
  return Math.hypot(p.leftEye.x - p.rightEye.x, p.leftEye.y - p.rightEye.y);
}

export function mapFive(p: FivePoints, map: (q: Point) => Point): FivePoints {
  return {
    rightEye: map(p.rightEye),
    leftEye: map(p.leftEye),
    nose: map(p.nose),
    mouthRight: map(p.mouthRight),
    mouthLeft: map(p.mouthLeft),
  };
}

/**
 * The features watched, as FaceMesh indices (MediaPipe canonical mesh; "right" = the subject's
 * right). Not the brows: a soft edge against bright skin, which a style's contrast curve clipping
 * the forehead moves by up to 3.7 % of the IOD (a monochrome render of a real face).
 */
export const FEATURES = {
  rightEye: [33, 133],
  leftEye: [362, 263],
  noseTip: [1],
  noseRight: [98],
  noseLeft: [327],
  mouthRight: [61],
  mouthLeft: [291],
  upperLip: [0],
  lowerLip: [17],
} as const;
export type Feature = keyof typeof FEATURES;

/** Samples per IOD: the patches are compared at this scale whatever the headshot size. */
const SAMPLES_PER_IOD = 64;
/** Patch half-side (0.16 IOD: an eye, a nostril, a mouth corner) and search radius (0.094 IOD) in samples. */
const PATCH = 10;
const SEARCH = 6;
/** Band-pass: luminance blurred by FINE minus blurred by COARSE (samples): removes pixel noise and shading. */
const FINE = 0.7;
const COARSE = 3;
const MARGIN = Math.ceil(3 * COARSE);
const HALF = PATCH + SEARCH + MARGIN;
const SIDE = 2 * HALF + 1;
/** Below this correlation at its best offset a feature is not found in the render. */
export const MIN_CORRELATION = 0.5;

export interface FaceTrueReference {
  /** IOD in frame pixels. */
  iod: number;
  /** Feature centres in frame pixels. */
  at: Record<Feature, Point>;
  /** Each feature's band-passed luminance window, SIDE x SIDE samples. */
  windows: Record<Feature, Float32Array>;
  /** The person's matte under each window, 0..1: the backdrop around a face changes with the style and is left out. */
  mattes: Record<Feature, Float32Array>;
  /** Each sample's weight in the match: the matte shrunk, so the matte's soft edge counts for nothing. */
  weights: Record<Feature, Float32Array>;
  /** Which directions of displacement each window can measure (see `apertureMetric`). */
  metrics: Record<Feature, Metric>;
}

/** A symmetric 2x2 matrix [xx, xy, yy]: a displacement d counts as sqrt(d' M d). */
export type Metric = readonly [number, number, number];

export interface FaceTrueResult {
  ok: boolean;
  /** Largest feature displacement over the IOD (Infinity when a feature is not found). */
  error: number;
  tolerance: number;
  /** Which feature moved most. */
  worst: Feature;
  /** Each feature's measured displacement over the IOD (Infinity when not found). */
  features: Record<Feature, number>;
}

const mean = (ps: Point[]): Point => ({
  x: ps.reduce((s, p) => s + p.x, 0) / ps.length,
  y: ps.reduce((s, p) => s + p.y, 0) / ps.length,
});
const FEATURE_NAMES = Object.keys(FEATURES) as Feature[];

/** Feature centres (frame pixels) from FaceMesh's 468 points on the framed photo. */
export function featuresFrom(points: Point[]): Record<Feature, Point> {
  return Object.fromEntries(FEATURE_NAMES.map((f) => [f, mean(FEATURES[f].map((i) => points[i]))])) as Record<
    Feature,
    Point
  >;
}

/** Luminance at continuous image coordinates (bilinear between pixel centres, edges replicated). */
function luma(image: RgbImage, x: number, y: number): number {
  const { data, width, height } = image;
  const X = Math.min(width - 1, Math.max(0, x - 0.5)),
    Y = Math.min(height - 1, Math.max(0, y - 0.5));
  const x0 = Math.floor(X),
    y0 = Math.floor(Y);
  const x1 = Math.min(width - 1, x0 + 1),
    y1 = Math.min(height - 1, y0 + 1);
  const fx = X - x0,
    fy = Y - y0;
  const a = (y0 * width + x0) * 3,
    b = (y0 * width + x1) * 3,
    c = (y1 * width + x0) * 3,
    d = (y1 * width + x1) * 3;
  const la = 0.299 * data[a] + 0.587 * data[a + 1] + 0.114 * data[a + 2];
  const lb = 0.299 * data[b] + 0.587 * data[b + 1] + 0.114 * data[b + 2];
  const lc = 0.299 * data[c] + 0.587 * data[c + 1] + 0.114 * data[c + 2];
  const ld = 0.299 * data[d] + 0.587 * data[d + 1] + 0.114 * data[d + 2];
  return (la * (1 - fx) + lb * fx) * (1 - fy) + (lc * (1 - fx) + ld * fx) * fy;
}

/**
 * A window of luminance around `centre` (frame pixels), `step` frame pixels per sample, read from
 * `image` through `map` (frame pixels to image pixels, affine: the frame's similarity map and an
 * offset; none when the image is the frame). Each sample averages a grid of bilinear reads as wide
 * as it spans in the image, so a large image does not alias and a small one is interpolated.
 */
function sampleLuma(image: RgbImage, centre: Point, step: number, map?: (q: Point) => Point): Float32Array {
  const o = map ? map(centre) : centre;
  const ex = map ? map({ x: centre.x + 1, y: centre.y }) : { x: o.x + 1, y: o.y };
  const ey = map ? map({ x: centre.x, y: centre.y + 1 }) : { x: o.x, y: o.y + 1 };
  // Image pixels per frame pixel along the frame's x and y.
  const ax = ex.x - o.x,
    ay = ex.y - o.y,
    bx = ey.x - o.x,
    by = ey.y - o.y;
  const n = Math.min(4, Math.max(1, Math.ceil(Math.hypot(ax, ay) * step - 1e-9)));
  const out = new Float32Array(SIDE * SIDE);
  for (let v = 0; v < SIDE; v++) {
    for (let u = 0; u < SIDE; u++) {
      let s = 0;
      for (let j = 0; j < n; j++) {
        const fy = (v - HALF + (j + 0.5) / n - 0.5) * step;
        for (let i = 0; i < n; i++) {
          const fx = (u - HALF + (i + 0.5) / n - 0.5) * step;
          s += luma(image, o.x + ax * fx + bx * fy, o.y + ay * fx + by * fy);
        }
      }
      out[v * SIDE + u] = s / (n * n);
    }
  }
  return out;
}

function gaussianKernel(sigma: number): Float32Array {
  const r = Math.ceil(3 * sigma);
  const k = new Float32Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) sum += k[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma));
  return k.map((v) => v / sum);
}
const KERNELS = [gaussianKernel(FINE), gaussianKernel(COARSE)] as const;

const clamp = (i: number) => (i < 0 ? 0 : i >= SIDE ? SIDE - 1 : i);

function blur(src: Float32Array, k: Float32Array): Float32Array {
  const r = (k.length - 1) / 2;
  const tmp = new Float32Array(src.length),
    out = new Float32Array(src.length);
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      let s = 0;
      for (let i = -r; i <= r; i++) s += src[y * SIDE + clamp(x + i)] * k[i + r];
      tmp[y * SIDE + x] = s;
    }
  }
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      let s = 0;
      for (let i = -r; i <= r; i++) s += tmp[clamp(y + i) * SIDE + x] * k[i + r];
      out[y * SIDE + x] = s;
    }
  }
  return out;
}

/**
 * Band-pass of the person's luminance: blurred by FINE minus blurred by COARSE, each blur weighted
 * by the matte (normalised convolution), so the backdrop, which changes with the style, does not
 * bleed into the person's pixels near it.
 */
function bandPass(lum: Float32Array, person: Float32Array): Float32Array {
  const weighted = lum.map((v, i) => v * person[i]);
  const out = new Float32Array(lum.length);
  const [fineL, fineW] = [blur(weighted, KERNELS[0]), blur(person, KERNELS[0])];
  const [coarseL, coarseW] = [blur(weighted, KERNELS[1]), blur(person, KERNELS[1])];
  for (let i = 0; i < out.length; i++)
    out[i] = fineW[i] > 1e-3 && coarseW[i] > 1e-3 ? fineL[i] / fineW[i] - coarseL[i] / coarseW[i] : 0;
  return out;
}

/**
 * The reference for a prepared photo: each feature's window, read from the photo's own pixels
 * through the frame (`map` takes frame pixels to `image` pixels; without it `image` is the frame).
 */
export function faceReference(
  features: Record<Feature, Point>,
  person: Matte,
  image: RgbImage,
  map?: (q: Point) => Point,
): FaceTrueReference {
  const iod = Math.hypot(features.leftEye.x - features.rightEye.x, features.leftEye.y - features.rightEye.y);
  const step = iod / SAMPLES_PER_IOD;
  const mattes = Object.fromEntries(FEATURE_NAMES.map((f) => [f, matteWindow(person, features[f], step)])) as Record<
    Feature,
    Float32Array
  >;
  const windows = Object.fromEntries(
    FEATURE_NAMES.map((f) => [f, bandPass(sampleLuma(image, features[f], step, map), mattes[f])]),
  ) as Record<Feature, Float32Array>;
  const weights = Object.fromEntries(FEATURE_NAMES.map((f) => [f, shrunk(mattes[f])])) as Record<Feature, Float32Array>;
  const metrics = Object.fromEntries(FEATURE_NAMES.map((f) => [f, apertureMetric(windows[f], weights[f])])) as Record<
    Feature,
    Metric
  >;
  return { iod, at: features, mattes, windows, weights, metrics };
}

/** A direction with less than this share of a patch's strongest gradient energy cannot be measured. */
const APERTURE = 0.2;

/**
 * The aperture problem: along an edge with nothing across it (a brow, a lip line), a patch matches
 * equally well anywhere, so smoothing or relighting slides the match along it. The patch's
 * structure tensor tells which directions its texture pins down; displacement is counted along
 * those, in full where the gradient energy is at least APERTURE of the strongest direction's,
 * in proportion below it.
 */
function apertureMetric(window: Float32Array, weight: Float32Array): Metric {
  let xx = 0,
    xy = 0,
    yy = 0;
  for (let y = -PATCH; y <= PATCH; y++) {
    for (let x = -PATCH; x <= PATCH; x++) {
      const i = (HALF + y) * SIDE + HALF + x;
      const gx = (window[i + 1] - window[i - 1]) / 2,
        gy = (window[i + SIDE] - window[i - SIDE]) / 2;
      xx += weight[i] * gx * gx;
      xy += weight[i] * gx * gy;
      yy += weight[i] * gy * gy;
    }
  }
  // Eigenvalues and the strong direction (cos, sin) of the tensor.
  const mean = (xx + yy) / 2,
    diff = Math.hypot((xx - yy) / 2, xy);
  const strong = mean + diff,
    weak = mean - diff;
  if (!(strong > 0)) return [0, 0, 0];
  const angle = Math.atan2(2 * xy, xx - yy) / 2;
  const c = Math.cos(angle),
    s = Math.sin(angle);
  const k = Math.min(1, weak / (APERTURE * strong));
  // M = e1 e1' + k e2 e2', with e1 = (c, s) and e2 = (-s, c).
  return [c * c + k * s * s, c * s - k * s * c, s * s + k * c * c];
}

/** The person's matte over the frame, 0..255. */
export interface Matte {
  alpha: Uint8Array;
  width: number;
  height: number;
}

/** Samples this close to the backdrop count for nothing in the match: the matte's edge is soft. */
const SHRINK = 2;

/** Matte values up to this count as the backdrop. */
const OPAQUE = 0.75;

/** How much the matte under a window (nearest frame pixel) is opaque person, 0..1. */
function matteWindow(person: Matte, centre: Point, step: number): Float32Array {
  const { alpha, width, height } = person;
  const a = new Float32Array(SIDE * SIDE);
  for (let v = 0; v < SIDE; v++) {
    const y = Math.min(height - 1, Math.max(0, Math.floor(centre.y + (v - HALF) * step)));
    for (let u = 0; u < SIDE; u++) {
      const x = Math.min(width - 1, Math.max(0, Math.floor(centre.x + (u - HALF) * step)));
      // Only where the matte is nearly opaque: a composite mixes the backdrop into the rest.
      a[v * SIDE + u] = Math.max(0, (alpha[y * width + x] / 255 - OPAQUE) / (1 - OPAQUE));
    }
  }
  return a;
}

/** The smallest matte within SHRINK samples, squared: 1 well inside the person, 0 on and near the backdrop. */
function shrunk(a: Float32Array): Float32Array {
  const rows = new Float32Array(a.length),
    out = new Float32Array(a.length);
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      let m = 1;
      for (let i = -SHRINK; i <= SHRINK; i++) m = Math.min(m, a[y * SIDE + clamp(x + i)]);
      rows[y * SIDE + x] = m;
    }
  }
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      let m = 1;
      for (let i = -SHRINK; i <= SHRINK; i++) m = Math.min(m, rows[clamp(y + i) * SIDE + x]);
      out[y * SIDE + x] = m * m;
    }
  }
  return out;
}

/** Normalised correlation of the reference's central patch with the render's patch shifted by (dx, dy). */
function correlation(ref: Float32Array, weight: Float32Array, got: Float32Array, dx: number, dy: number): number {
  let n = 0,
    sa = 0,
    sb = 0,
    saa = 0,
    sbb = 0,
    sab = 0;
  for (let y = -PATCH; y <= PATCH; y++) {
    const ra = (HALF + y) * SIDE + HALF,
      rb = (HALF + y + dy) * SIDE + HALF + dx;
    for (let x = -PATCH; x <= PATCH; x++) {
      const w = weight[ra + x];
      if (w === 0) continue;
      const a = ref[ra + x],
        b = got[rb + x];
      n += w;
      sa += w * a;
      sb += w * b;
      saa += w * a * a;
      sbb += w * b * b;
      sab += w * a * b;
    }
  }
  const va = saa - (sa * sa) / n,
    vb = sbb - (sb * sb) / n;
  return n > 0 && va > 0 && vb > 0 ? (sab - (sa * sb) / n) / Math.sqrt(va * vb) : 0;
}

/** A parabola through the best correlation and its neighbours places the peak between samples. */
function peak(m: number, z: number, p: number): number {
  const d = m - 2 * z + p;
  return d < 0 ? Math.max(-0.5, Math.min(0.5, (m - p) / (2 * d))) : 0;
}

/** Where the reference patch best matches in the render's window: offset in samples (sub-sample) and its correlation. */
export function register(
  ref: Float32Array,
  weight: Float32Array,
  got: Float32Array,
): { dx: number; dy: number; correlation: number } {
  const side = 2 * SEARCH + 1;
  const c = new Float32Array(side * side);
  let best = 0;
  for (let dy = -SEARCH; dy <= SEARCH; dy++) {
    for (let dx = -SEARCH; dx <= SEARCH; dx++) {
      const i = (dy + SEARCH) * side + dx + SEARCH;
      c[i] = correlation(ref, weight, got, dx, dy);
      if (c[i] > c[best]) best = i;
    }
  }
  const bx = (best % side) - SEARCH,
    by = Math.floor(best / side) - SEARCH;
  const fx = Math.abs(bx) < SEARCH ? peak(c[best - 1], c[best], c[best + 1]) : 0;
  const fy = Math.abs(by) < SEARCH ? peak(c[best - side], c[best], c[best + side]) : 0;
  return { dx: bx + fx, dy: by + fy, correlation: c[best] };
}

/** Each feature's displacement in the render (fractions of the IOD) and its correlation. */
export interface Displacement {
  /** Fractions of the IOD. */
  dx: number;
  dy: number;
  /** The part of the displacement the feature's texture pins down (see `apertureMetric`). */
  measured: number;
  correlation: number;
}

export function displacements(ref: FaceTrueReference, render: RgbImage): Record<Feature, Displacement> {
  const step = ref.iod / SAMPLES_PER_IOD;
  return Object.fromEntries(
    FEATURE_NAMES.map((f) => {
      const r = register(ref.windows[f], ref.weights[f], bandPass(sampleLuma(render, ref.at[f], step), ref.mattes[f]));
      const [xx, xy, yy] = ref.metrics[f];
      const dx = r.dx / SAMPLES_PER_IOD,
        dy = r.dy / SAMPLES_PER_IOD;
      return [
        f,
        {
          dx,
          dy,
          measured: Math.sqrt(Math.max(0, xx * dx * dx + 2 * xy * dx * dy + yy * dy * dy)),
          correlation: r.correlation,
        },
      ];
    }),
  ) as Record<Feature, Displacement>;
}

/** The check on a render (frame pixels): the largest feature displacement against the tolerance. */
export function faceTrue(ref: FaceTrueReference, render: RgbImage, tolerance: number): FaceTrueResult {
  let error = 0;
  let worst: Feature = 'rightEye';
  const features = {} as Record<Feature, number>;
  for (const [f, d] of Object.entries(displacements(ref, render)) as [Feature, Displacement][]) {
    const e = d.correlation < MIN_CORRELATION ? Infinity : d.measured;
    features[f] = e;
    if (e > error) {
      error = e;
      worst = f;
    }
  }
  return { ok: error <= tolerance, error, tolerance, worst, features };
}

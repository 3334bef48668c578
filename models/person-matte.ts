/**
 * The person's matte and edge colours on a busy photo. Pure pixel maths, no model.
 *
 * The segmenter's coarse mask knows where a person is but not which colours are theirs: near the
 * edge it marks lettering, stripes and other people as "probably person", and the guided filter
 * (`refineMask`) then draws the edge through them. Here the coarse mask is the prior and a colour
 * model of person and background decides the band between them:
 *
 * 1. A trimap on a grid of CELL-pixel cells: sure person where the mask is above SURE, sure
 *    background below 1 - SURE, eroded by ERODE cells so no sample sits on an edge.
 * 2. Local colour histograms (16 levels a channel) of the sure person and sure background, per
 *    tile of TILE cells gathered from the tile and its eight neighbours, so a wall's lettering or
 *    blinds near the shoulder are background colours there even if they are person colours
 *    elsewhere in the photo.
 * 3. In the unknown band, Bayes: alpha = p Pf / (p Pf + (1 - p) Pb), the mask as prior, the
 *    histograms as likelihoods (smoothed, with a floor so an unseen colour leaves the prior alone).
 * 4. Only the person whose face the frame is about: cells of the matte not connected to the face
 *    (another person, a lamp the mask took for a head) are background.
 * 5. The guided filter of `refineMask`, fed this posterior instead of the raw mask, puts the edge on
 *    the photo's own edges (strands of hair) at full resolution.
 *
 * `estimateForeground` then removes the old background's colour from the edge band (spill): the
 * "blur fusion" estimate of Forte and Pitie ("Approximate Fast Foreground Colour Estimation", ICIP
 * 2021), F = Fb + a (I - a Fb - (1 - a) Bb), with Fb and Bb the local person and background colours
 * (normalised box means on the grid), so an edge pixel keeps the person's colour and loses the pink
 * wall's.
 */
import { boxMean, refineMask, type CoarseMask, type RefineOptions } from './matte';
import type { RgbImage } from './face-detector';

/** Grid cell, px: colour statistics are gathered at this resolution. */
const CELL = 4;
/** Mask probability above which a cell is sure person (below 1 - SURE, sure background). */
const SURE = 0.92;
/** Cells the sure regions are eroded by before sampling colours. */
const ERODE = 2;
/** Histogram tile, in cells (128 px at CELL 4). */
const TILE = 32;
/** Colour levels a channel. */
const LEVELS = 16;
const BINS = LEVELS * LEVELS * LEVELS;
/** Fewer sure samples than this in a tile's neighbourhood: the colour model says nothing there. */
const MIN_SAMPLES = 64;

export interface PersonMatteOptions extends RefineOptions {
  /**
   * The eyes' midpoint in the image and the face's width, px, the face upright: the matte keeps
   * the person connected to it, and trusts the mask's confidence only within the head and body
   * the face implies (`envelope`).
   */
  face?: { x: number; y: number; width: number };
}

/**
 * Where a head and shoulders can be, from the face (in face widths from the eyes' midpoint, y
 * down): a head ellipse with room for big hair and a hair accessory, and below the chin a body
 * that widens to the shoulders. Outside it the mask's "person" must also look like the person.
 */
function envelope(face: NonNullable<PersonMatteOptions['face']>, gw: number, gh: number): Uint8Array {
  const out = new Uint8Array(gw * gh);
  for (let gy = 0; gy < gh; gy++) {
    const v = ((gy + 0.5) * CELL - face.y) / face.width;
    for (let gx = 0; gx < gw; gx++) {
      const u = ((gx + 0.5) * CELL - face.x) / face.width;
      const head = (u / 0.95) ** 2 + ((v + 0.15) / 1.15) ** 2 <= 1;
      const body = v > 0.6 && Math.abs(u) < 0.45 + (v - 0.6) * 1.6;
      out[gy * gw + gx] = head || body ? 1 : 0;
    }
  }
  return out;
}

/** Box mean of a grid, out of place. */
function boxed(src: Float32Array, w: number, h: number, r: number): Float32Array {
  const out = new Float32Array(src.length);
  boxMean(src, out, w, h, r, new Float64Array(w));
  return out;
}

/** Grid cell means of the image's channels, 0..255. */
function cellColours(image: RgbImage, gw: number, gh: number): Float32Array {
  const { data, width, height } = image;
  const out = new Float32Array(gw * gh * 3);
  const count = new Float32Array(gw * gh);
  for (let y = 0; y < height; y++) {
    const row = ((y / CELL) | 0) * gw;
    for (let x = 0, d = y * width * 3; x < width; x++, d += 3) {
      const g = row + ((x / CELL) | 0);
      out[g * 3] += data[d];
      out[g * 3 + 1] += data[d + 1];
      out[g * 3 + 2] += data[d + 2];
      count[g]++;
    }
  }
  for (let g = 0; g < gw * gh; g++) {
    const k = 1 / count[g];
    out[g * 3] *= k;
    out[g * 3 + 1] *= k;
    out[g * 3 + 2] *= k;
  }
  return out;
}

/** The coarse mask sampled at the grid's cell centres. */
function gridPrior(coarse: CoarseMask, width: number, height: number, gw: number, gh: number): Float32Array {
  const region = coarse.region ?? { x: 0, y: 0, width: coarse.width, height: coarse.height };
  const out = new Float32Array(gw * gh);
  const m = coarse.mask, mw = coarse.width, mh = coarse.height;
  for (let gy = 0; gy < gh; gy++) {
    const py = Math.min(height, (gy + 0.5) * CELL);
    const v = region.y + (py * region.height) / height - 0.5;
    const y0 = Math.max(0, Math.min(mh - 1, Math.floor(v))), y1 = Math.min(mh - 1, y0 + 1), fy = Math.max(0, Math.min(1, v - y0));
    for (let gx = 0; gx < gw; gx++) {
      const px = Math.min(width, (gx + 0.5) * CELL);
      const u = region.x + (px * region.width) / width - 0.5;
      const x0 = Math.max(0, Math.min(mw - 1, Math.floor(u))), x1 = Math.min(mw - 1, x0 + 1), fx = Math.max(0, Math.min(1, u - x0));
      const top = m[y0 * mw + x0] + (m[y0 * mw + x1] - m[y0 * mw + x0]) * fx;
      const bot = m[y1 * mw + x0] + (m[y1 * mw + x1] - m[y1 * mw + x0]) * fx;
      out[gy * gw + gx] = top + (bot - top) * fy;
    }
  }
  return out;
}

/** Cells where `set` holds and every cell within `r` (a square) holds too. */
function erode(set: Uint8Array, w: number, h: number, r: number): Uint8Array {
  const f = new Float32Array(set.length);
  for (let i = 0; i < set.length; i++) f[i] = set[i];
  const m = boxed(f, w, h, r);
  const out = new Uint8Array(set.length);
  for (let i = 0; i < set.length; i++) out[i] = m[i] > 0.999 ? 1 : 0;
  return out;
}

const binOf = (r: number, g: number, b: number) => (((r * LEVELS) >> 8) * LEVELS + ((g * LEVELS) >> 8)) * LEVELS + ((b * LEVELS) >> 8);

/** A histogram blurred by one bin each way (1-2-1 along each axis), so near colours count. */
function smoothHistogram(h: Float32Array): void {
  const tmp = new Float32Array(BINS);
  const strides = [1, LEVELS, LEVELS * LEVELS];
  for (const s of strides) {
    for (let i = 0; i < BINS; i++) {
      const c = Math.floor(i / s) % LEVELS;
      tmp[i] = 2 * h[i] + (c > 0 ? h[i - s] : h[i]) + (c < LEVELS - 1 ? h[i + s] : h[i]);
    }
    h.set(tmp);
  }
}

/**
 * Alpha (0..255 a pixel) of the person in `image` from the segmenter's coarse mask: colour model
 * in the unknown band, the face's person only, then the guided filter at full resolution.
 */
export function personMatte(image: RgbImage, coarse: CoarseMask, opts: PersonMatteOptions = {}): Uint8Array {
  const { width, height } = image;
  const gw = Math.ceil(width / CELL), gh = Math.ceil(height / CELL), n = gw * gh;
  const colour = cellColours(image, gw, gh);
  const prior = gridPrior(coarse, width, height, gw, gh);

  // 1. Trimap: the mask's sure person counts only inside the envelope; outside it, colour decides.
  const inside = opts.face ? envelope(opts.face, gw, gh) : new Uint8Array(n).fill(1);
  const fg = new Uint8Array(n), bg = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    fg[i] = prior[i] >= SURE && inside[i] ? 1 : 0;
    bg[i] = prior[i] <= 1 - SURE ? 1 : 0;
  }
  const sureFg = erode(fg, gw, gh, ERODE), sureBg = erode(bg, gw, gh, ERODE);

  // 2. Local histograms per tile, from the tile and its neighbours.
  const tw = Math.ceil(gw / TILE), th = Math.ceil(gh / TILE), tiles = tw * th;
  const hf = Array.from({ length: tiles }, () => new Float32Array(BINS));
  const hb = Array.from({ length: tiles }, () => new Float32Array(BINS));
  const nf = new Float32Array(tiles), nb = new Float32Array(tiles);
  const cellBin = new Uint16Array(n);
  for (let i = 0; i < n; i++) cellBin[i] = binOf(colour[i * 3], colour[i * 3 + 1], colour[i * 3 + 2]);
  for (let gy = 0; gy < gh; gy++) {
    const ty = (gy / TILE) | 0;
    for (let gx = 0; gx < gw; gx++) {
      const i = gy * gw + gx;
      if (!sureFg[i] && !sureBg[i]) continue;
      const tx = (gx / TILE) | 0;
      const bin = cellBin[i];
      for (let y = Math.max(0, ty - 1); y <= Math.min(th - 1, ty + 1); y++) {
        for (let x = Math.max(0, tx - 1); x <= Math.min(tw - 1, tx + 1); x++) {
          const t = y * tw + x;
          if (sureFg[i]) {
            hf[t][bin]++;
            nf[t]++;
          } else {
            hb[t][bin]++;
            nb[t]++;
          }
        }
      }
    }
  }
  // Only tiles with both kinds of samples and an unknown cell need their histograms smoothed.
  const unknownIn = new Uint8Array(tiles);
  for (let gy = 0; gy < gh; gy++) for (let gx = 0; gx < gw; gx++) if (!fg[gy * gw + gx] && !bg[gy * gw + gx]) unknownIn[((gy / TILE) | 0) * tw + ((gx / TILE) | 0)] = 1;
  const usable = new Uint8Array(tiles);
  for (let t = 0; t < tiles; t++) {
    if (!unknownIn[t] || nf[t] < MIN_SAMPLES || nb[t] < MIN_SAMPLES) continue;
    usable[t] = 1;
    smoothHistogram(hf[t]);
    smoothHistogram(hb[t]);
  }

  // 3. Posterior in the unknown band (sure cells keep the prior).
  const post = new Float32Array(n);
  for (let gy = 0; gy < gh; gy++) {
    const ty = (gy / TILE) | 0;
    for (let gx = 0; gx < gw; gx++) {
      const i = gy * gw + gx;
      const p = prior[i];
      const t = ty * tw + ((gx / TILE) | 0);
      if (fg[i] || bg[i] || !usable[t]) {
        post[i] = p;
        continue;
      }
      // Likelihoods per sample (the smoothing multiplied each histogram by 64), with a floor.
      // Within the envelope a colour neither side has seen leaves the prior as it is; outside it,
      // a colour the person nearby does not have is background (a lamp, a window, lettering).
      const floor = 0.5 / BINS;
      const pf = hf[t][cellBin[i]] / (64 * nf[t]) + (inside[i] ? floor : floor / 25);
      const pb = hb[t][cellBin[i]] / (64 * nb[t]) + floor;
      post[i] = (p * pf) / (p * pf + (1 - p) * pb);
    }
  }

  // 4. The face's person only.
  if (opts.face) keepConnected(post, gw, gh, Math.min(gw - 1, Math.max(0, (opts.face.x / CELL) | 0)), Math.min(gh - 1, Math.max(0, (opts.face.y / CELL) | 0)));

  // 5. Full resolution along the photo's edges.
  const mask: CoarseMask = { mask: post, width: gw, height: gh, region: { x: 0, y: 0, width: width / CELL, height: height / CELL } };
  return refineMask(image, mask, opts);
}

/**
 * Zeroes the cells of `a` (0..1) that are not connected, through cells of at least 0.5, to the
 * seed: the matte's other blobs are somebody or something else. A seed below 0.5 leaves it whole.
 */
function keepConnected(a: Float32Array, w: number, h: number, sx: number, sy: number): void {
  const seed = sy * w + sx;
  if (a[seed] < 0.5) return;
  const seen = new Uint8Array(a.length);
  const stack = new Int32Array(a.length);
  let top = 0;
  stack[top++] = seed;
  seen[seed] = 1;
  while (top) {
    const i = stack[--top];
    const x = i % w;
    const next = [x > 0 ? i - 1 : -1, x < w - 1 ? i + 1 : -1, i >= w ? i - w : -1, i + w < a.length ? i + w : -1];
    for (const j of next) {
      if (j < 0 || seen[j] || a[j] < 0.5) continue;
      seen[j] = 1;
      stack[top++] = j;
    }
  }
  // A blob's own soft rim (below 0.5) goes with it: cells within two of a kept cell stay.
  const kept = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) kept[i] = seen[i];
  const near = boxed(kept, w, h, 2);
  for (let i = 0; i < a.length; i++) if (!seen[i] && near[i] === 0) a[i] = 0;
}

/**
 * The person's colour at every pixel the matte leaves partly transparent, the old background's
 * colour taken out (blur fusion, see the header): returns a copy of `image` with those pixels
 * replaced. `alpha` is 0..255 a pixel.
 */
export function estimateForeground(image: RgbImage, alpha: Uint8Array): Buffer {
  const { data, width, height } = image;
  const gw = Math.ceil(width / CELL), gh = Math.ceil(height / CELL), n = gw * gh;
  // Premultiplied cell sums of the person and of the background, and their weights.
  const acc = Array.from({ length: 8 }, () => new Float32Array(n));
  const [fr, fgc, fb, fw, br, bgc, bb, bw] = acc;
  for (let y = 0; y < height; y++) {
    const row = ((y / CELL) | 0) * gw;
    for (let x = 0, o = y * width; x < width; x++, o++) {
      const g = row + ((x / CELL) | 0);
      const a = alpha[o] / 255, d = o * 3;
      fr[g] += a * data[d];
      fgc[g] += a * data[d + 1];
      fb[g] += a * data[d + 2];
      fw[g] += a;
      const ib = 1 - a;
      br[g] += ib * data[d];
      bgc[g] += ib * data[d + 1];
      bb[g] += ib * data[d + 2];
      bw[g] += ib;
    }
  }
  // Local means over about 36 px: wide enough to reach across the edge band from both sides.
  const r = Math.max(2, Math.round(36 / CELL));
  const m = acc.map((c) => boxed(c, gw, gh, r));
  const F = new Float32Array(n * 3), B = new Float32Array(n * 3);
  for (let g = 0; g < n; g++) {
    const kf = m[3][g] > 1e-3 ? 1 / m[3][g] : 0, kb = m[7][g] > 1e-3 ? 1 / m[7][g] : 0;
    for (let c = 0; c < 3; c++) {
      F[g * 3 + c] = m[c][g] * kf;
      B[g * 3 + c] = m[4 + c][g] * kb;
    }
  }
  const out = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const copy = Buffer.allocUnsafe(out.length);
  out.copy(copy);
  for (let y = 0; y < height; y++) {
    const row = ((y / CELL) | 0) * gw;
    for (let x = 0, o = y * width; x < width; x++, o++) {
      const a8 = alpha[o];
      if (a8 === 0 || a8 === 255) continue;
      const a = a8 / 255, g = (row + ((x / CELL) | 0)) * 3, d = o * 3;
      for (let c = 0; c < 3; c++) {
        const f = F[g + c], b = B[g + c];
        const v = f + a * (data[d + c] - a * f - (1 - a) * b);
        copy[d + c] = v < 0 ? 0 : v > 255 ? 255 : v + 0.5;
      }
    }
  }
  return copy;
}

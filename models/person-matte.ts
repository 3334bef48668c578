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
 *    Where BlazePose's mask of the subject's own body (`body`) is surer than the mask, its
 *    certainty is the prior (BODY_PRIOR).
 * 4. Only the person whose face the frame is about (models/subject-mask.ts): other people, and
 *    pieces not connected to the face (a lamp the mask took for a head), are background.
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
import type { Bone } from './pose';
import { keepSubject, type FaceAt } from './subject-mask';

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
/** Width of the frame's edge sampled as background, px, and how far down the sides it goes (fraction of the height). */
const BORDER = 24;
const BORDER_DOWN = 0.55;
/** Below this density among the person's colours (see its use), an edge cell's colour is the scene's. */
const PERSON_DENSITY = 3;
/** The most the mask's probability counts for outside the core (see `core`). */
const OUTSIDE_PRIOR = 0.9;
/**
 * The most BlazePose's mask of the subject's own body (`body`) counts for as the prior, where the
 * coarse mask sees a person too: dark hair and a black top before a dark room have the room's
 * colours, and from the capped prior the colour vote gave them to the room (a ponytail and a
 * shoulder cut away on a new crop of party-3). At 0.99 a colour must be a hundred times likelier
 * the room's to leave. BlazePose's edge runs inside the hair, so it adds no room around her.
 */
const BODY_PRIOR = 0.99;
/** Fewer sure samples than this in a tile's neighbourhood: the colour model says nothing there. */
const MIN_SAMPLES = 64;

export interface PersonMatteOptions extends RefineOptions {
  /**
   * The eyes' midpoint in the image and the face's width, px, the face upright: the matte keeps
   * the person connected to it, and trusts the mask's confidence only within the head and body
   * the face implies (`envelope`).
   */
  face?: FaceAt;
  /** Other faces in the image (their centres and widths, px): seeds of the people who are not the subject. */
  others?: FaceAt[];
  /**
   * How much of each pixel is the photo (0..255; warp's coverage): where the frame reaches past the
   * photo, people come in from the photo's edge, and the person fades out towards an edge that cuts
   * them before the guided filter draws that edge along the photo's own (strands of hair).
   */
  inPhoto?: Uint8Array;
  /** Other people's skeletons (models/pose.ts `otherPeople`, image px): seeds of the others as their faces are. */
  bones?: Bone[];
  /**
   * How surely an image point is the subject's own body, 0..1 (models/body-mask.ts): where it is,
   * the colour vote's prior (BODY_PRIOR); where it is not, near someone else's skeleton, the
   * others' ground (models/subject-mask.ts).
   */
  body?: (x: number, y: number) => number;
}

/**
 * Where the person surely is, from the face (in face widths from the eyes' midpoint, y down): the
 * head with its hair (an ellipse from about 1.15 above the eyes to the chin) and a body that
 * widens below the chin. The mask's "sure person" counts only here; elsewhere (long hair, arms,
 * and whatever the mask took for them: a window, lettering, a neighbour's shoulder) a cell must
 * also have the colours of the person nearby.
 */
function core(face: NonNullable<PersonMatteOptions['face']>, gw: number, gh: number): Uint8Array {
  const out = new Uint8Array(gw * gh);
  for (let gy = 0; gy < gh; gy++) {
    const v = ((gy + 0.5) * CELL - face.y) / face.width;
    for (let gx = 0; gx < gw; gx++) {
      const u = ((gx + 0.5) * CELL - face.x) / face.width;
      const head = (u / 0.55) ** 2 + (v / 0.78) ** 2 <= 1;
      const body = v > 0.95 && Math.abs(u) < 0.25 + (v - 0.95) * 0.3;
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

/** Grid cell means of a 0..255 plane, 0..1. */
function cellShare(plane: Uint8Array, width: number, height: number, gw: number, gh: number): Float32Array {
  const out = new Float32Array(gw * gh);
  const count = new Float32Array(gw * gh);
  for (let y = 0; y < height; y++) {
    const row = ((y / CELL) | 0) * gw;
    for (let x = 0, o = y * width; x < width; x++, o++) {
      const g = row + ((x / CELL) | 0);
      out[g] += plane[o];
      count[g]++;
    }
  }
  for (let g = 0; g < gw * gh; g++) out[g] /= 255 * count[g];
  return out;
}

/** The coarse mask sampled at the grid's cell centres. */
function gridPrior(coarse: CoarseMask, width: number, height: number, gw: number, gh: number): Float32Array {
  const region = coarse.region ?? { x: 0, y: 0, width: coarse.width, height: coarse.height };
  const out = new Float32Array(gw * gh);
  const m = coarse.mask,
    mw = coarse.width,
    mh = coarse.height;
  for (let gy = 0; gy < gh; gy++) {
    const py = Math.min(height, (gy + 0.5) * CELL);
    const v = region.y + (py * region.height) / height - 0.5;
    const y0 = Math.max(0, Math.min(mh - 1, Math.floor(v))),
      y1 = Math.min(mh - 1, y0 + 1),
      fy = Math.max(0, Math.min(1, v - y0));
    for (let gx = 0; gx < gw; gx++) {
      const px = Math.min(width, (gx + 0.5) * CELL);
      const u = region.x + (px * region.width) / width - 0.5;
      const x0 = Math.max(0, Math.min(mw - 1, Math.floor(u))),
        x1 = Math.min(mw - 1, x0 + 1),
        fx = Math.max(0, Math.min(1, u - x0));
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

const binOf = (r: number, g: number, b: number) =>
  (((r * LEVELS) >> 8) * LEVELS + ((g * LEVELS) >> 8)) * LEVELS + ((b * LEVELS) >> 8);

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
  const gw = Math.ceil(width / CELL),
    gh = Math.ceil(height / CELL),
    n = gw * gh;
  const colour = cellColours(image, gw, gh);
  const prior = gridPrior(coarse, width, height, gw, gh);

  // 1. Trimap: the mask's sure person counts only in the core; outside it, colour decides.
  const inside = opts.face ? core(opts.face, gw, gh) : new Uint8Array(n).fill(1);
  const fg = new Uint8Array(n),
    bg = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    fg[i] = prior[i] >= SURE && inside[i] ? 1 : 0;
    bg[i] = prior[i] <= 1 - SURE ? 1 : 0;
  }
  const sureFg = erode(fg, gw, gh, ERODE),
    sureBg = erode(bg, gw, gh, ERODE);
  const cellBin = new Uint16Array(n);
  for (let i = 0; i < n; i++) cellBin[i] = binOf(colour[i * 3], colour[i * 3 + 1], colour[i * 3 + 2]);
  // The frame's top edge and the upper part of its sides, away from the core, show the scene behind
  // the person: where their colours are not the person's, they are background samples, even where
  // the mask took the scene for a person (a flat pink wall can fool it whole). Not the bottom, where
  // the body leaves the frame; not hair that flows out of the frame (the person's colour).
  if (opts.face) {
    const person = new Float32Array(BINS);
    let count = 0;
    for (let i = 0; i < n; i++) {
      if (!sureFg[i]) continue;
      person[cellBin[i]]++;
      count++;
    }
    smoothHistogram(person);
    const nearCore = boxed(Float32Array.from(inside), gw, gh, Math.round((0.5 * opts.face.width) / CELL));
    const rim = Math.max(2, Math.round(BORDER / CELL));
    for (let gy = 0; gy < gh; gy++) {
      for (let gx = 0; gx < gw; gx++) {
        const i = gy * gw + gx;
        const edge = gy < rim || ((gx < rim || gx >= gw - rim) && gy < BORDER_DOWN * gh);
        // Density of the cell's colour among the person's, against a uniform spread over the bins
        // (a colour that makes up a share q of the person's cells measures about 512 q).
        if (edge && nearCore[i] === 0 && (count ? (person[cellBin[i]] * BINS) / (64 * count) : 0) < PERSON_DENSITY)
          sureBg[i] = 1;
      }
    }
  }

  // 2. Local histograms per tile, from the tile and its neighbours; a tile with too few samples
  // of a side nearby uses that side's histogram over the whole frame (the last entry).
  const tw = Math.ceil(gw / TILE),
    th = Math.ceil(gh / TILE),
    tiles = tw * th,
    all = tiles;
  const hf = Array.from({ length: tiles + 1 }, () => new Float32Array(BINS));
  const hb = Array.from({ length: tiles + 1 }, () => new Float32Array(BINS));
  const nf = new Float32Array(tiles + 1),
    nb = new Float32Array(tiles + 1);
  for (let gy = 0; gy < gh; gy++) {
    const ty = (gy / TILE) | 0;
    for (let gx = 0; gx < gw; gx++) {
      const i = gy * gw + gx;
      if (!sureFg[i] && !sureBg[i]) continue;
      const tx = (gx / TILE) | 0;
      const bin = cellBin[i];
      const [h, count] = sureFg[i] ? [hf, nf] : [hb, nb];
      h[all][bin]++;
      count[all]++;
      for (let y = Math.max(0, ty - 1); y <= Math.min(th - 1, ty + 1); y++) {
        for (let x = Math.max(0, tx - 1); x <= Math.min(tw - 1, tx + 1); x++) {
          h[y * tw + x][bin]++;
          count[y * tw + x]++;
        }
      }
    }
  }
  // Which histograms each tile reads (each smoothed once).
  const useF = new Int32Array(tiles),
    useB = new Int32Array(tiles);
  const smoothed = new Uint8Array(2 * (tiles + 1));
  const pick = (t: number, count: Float32Array, h: Float32Array[], offset: number) => {
    const k = count[t] >= MIN_SAMPLES ? t : count[all] >= MIN_SAMPLES ? all : -1;
    if (k >= 0 && !smoothed[offset + k]) {
      smoothHistogram(h[k]);
      smoothed[offset + k] = 1;
    }
    return k;
  };
  for (let t = 0; t < tiles; t++) {
    useF[t] = pick(t, nf, hf, 0);
    useB[t] = pick(t, nb, hb, tiles + 1);
  }
  const useAll = pick(all, nf, hf, 0) === all;

  // 3. Posterior in the unknown band (sure cells keep the prior), blended bilinearly between the
  // four nearest tiles' colour models so that no tile's edge shows in the matte.
  const floor = 0.5 / BINS;
  const posterior = (i: number, t: number, q: number): number => {
    const f = useF[t],
      b = useB[t];
    // Likelihoods per sample (the smoothing multiplied each histogram by 64), with a floor: a
    // colour neither side has seen leaves the prior as it is.
    // The person's colours near the cell, and anywhere on the person (an arm's skin is the face's).
    const near = hf[f][cellBin[i]] / (64 * nf[f]);
    const pf = (useAll ? 0.5 * near + (0.5 * hf[all][cellBin[i]]) / (64 * nf[all]) : near) + floor;
    const pb = (b >= 0 ? hb[b][cellBin[i]] / (64 * nb[b]) : 0) + floor;
    return (q * pf) / (q * pf + (1 - q) * pb);
  };
  // How surely each cell is the subject's own body (BlazePose), where the mask sees a person too.
  const mine = new Float32Array(n);
  if (opts.body)
    for (let gy = 0; gy < gh; gy++)
      for (let gx = 0; gx < gw; gx++) {
        const i = gy * gw + gx;
        if (prior[i] >= 0.5) mine[i] = Math.min(BODY_PRIOR, opts.body((gx + 0.5) * CELL, (gy + 0.5) * CELL));
      }
  const post = new Float32Array(n);
  for (let gy = 0; gy < gh; gy++) {
    const v = Math.min(th - 1, Math.max(0, (gy + 0.5) / TILE - 0.5));
    const y0 = Math.floor(v),
      y1 = Math.min(th - 1, y0 + 1),
      wy = v - y0;
    for (let gx = 0; gx < gw; gx++) {
      const i = gy * gw + gx;
      const p = prior[i];
      if (fg[i] || bg[i]) {
        post[i] = p;
        continue;
      }
      // Outside the core the mask's certainty is capped: its "surely person" there must agree with the colours.
      // Where BlazePose sees her own body, that certainty is the prior instead.
      const q = Math.max(inside[i] ? p : Math.min(p, OUTSIDE_PRIOR), mine[i]);
      const u = Math.min(tw - 1, Math.max(0, (gx + 0.5) / TILE - 0.5));
      const x0 = Math.floor(u),
        x1 = Math.min(tw - 1, x0 + 1),
        wx = u - x0;
      let sum = 0,
        weight = 0;
      for (const [t, w] of [
        [y0 * tw + x0, (1 - wx) * (1 - wy)],
        [y0 * tw + x1, wx * (1 - wy)],
        [y1 * tw + x0, (1 - wx) * wy],
        [y1 * tw + x1, wx * wy],
      ]) {
        if (w <= 0 || useF[t] < 0) continue;
        sum += w * posterior(i, t, q);
        weight += w;
      }
      post[i] = weight > 0 ? sum / weight : p;
    }
  }

  // 4. The face's person only (models/subject-mask.ts), faded towards where the photo ends.
  const inPhoto = opts.inPhoto && cellShare(opts.inPhoto, width, height, gw, gh);
  if (opts.face) keepSubject(post, colour, gw, gh, CELL, opts.face, opts.others, inPhoto, opts.bones, opts.body);
  if (inPhoto) for (let i = 0; i < n; i++) post[i] *= inPhoto[i];

  // 5. Full resolution along the photo's edges.
  const mask: CoarseMask = {
    mask: post,
    width: gw,
    height: gh,
    region: { x: 0, y: 0, width: width / CELL, height: height / CELL },
  };
  return refineMask(image, mask, opts);
}

/**
 * The person's colour at every pixel the matte leaves partly transparent, the old background's
 * colour taken out (blur fusion, see the header): returns a copy of `image` with those pixels
 * replaced. `alpha` is 0..255 a pixel.
 */
export function estimateForeground(image: RgbImage, alpha: Uint8Array): Buffer {
  const { data, width, height } = image;
  const gw = Math.ceil(width / CELL),
    gh = Math.ceil(height / CELL),
    n = gw * gh;
  // Premultiplied cell sums of the person and of the background, and their weights.
  const acc = Array.from({ length: 8 }, () => new Float32Array(n));
  const [fr, fgc, fb, fw, br, bgc, bb, bw] = acc;
  for (let y = 0; y < height; y++) {
    const row = ((y / CELL) | 0) * gw;
    for (let x = 0, o = y * width; x < width; x++, o++) {
      const g = row + ((x / CELL) | 0);
      const a = alpha[o] / 255,
        d = o * 3;
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
  const F = new Float32Array(n * 3),
    B = new Float32Array(n * 3);
  for (let g = 0; g < n; g++) {
    const kf = m[3][g] > 1e-3 ? 1 / m[3][g] : 0,
      kb = m[7][g] > 1e-3 ? 1 / m[7][g] : 0;
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
      const a = a8 / 255,
        g = (row + ((x / CELL) | 0)) * 3,
        d = o * 3;
      for (let c = 0; c < 3; c++) {
        const f = F[g + c],
          b = B[g + c];
        const v = f + a * (data[d + c] - a * f - (1 - a) * b);
        copy[d + c] = v < 0 ? 0 : v > 255 ? 255 : v + 0.5;
      }
    }
  }
  return copy;
}

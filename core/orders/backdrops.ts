import sharp, { type Sharp } from 'sharp';
import type { RgbImage } from '../photos/pixels';
import type { Backdrop } from './catalog';

/** Deterministic soft light discs for the office bokeh, positions from a fixed sequence. */
function bokehSvg(
  width: number,
  height: number,
  top: [number, number, number],
  bottom: [number, number, number],
): Buffer {
  const discs: string[] = [];
  let seed = 7;
  const rnd = () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647;
  };
  for (let i = 0; i < 22; i++) {
    const r = (0.04 + rnd() * 0.09) * width;
    const warm = 200 + Math.round(rnd() * 55);
    discs.push(
      `<circle cx="${(rnd() * width).toFixed(1)}" cy="${(rnd() * height * 0.7).toFixed(1)}" r="${r.toFixed(1)}" fill="rgb(255,${warm},${Math.round(warm * 0.7)})" fill-opacity="${(0.1 + rnd() * 0.18).toFixed(2)}"/>`,
    );
  }
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><defs><linearGradient id="g" x1="0" y1="0" x2="0" y2="1">` +
      `<stop offset="0" stop-color="rgb(${top.join(',')})"/><stop offset="1" stop-color="rgb(${bottom.join(',')})"/></linearGradient>` +
      `<filter id="b"><feGaussianBlur stdDeviation="${(width * 0.012).toFixed(1)}"/></filter></defs>` +
      `<rect width="100%" height="100%" fill="url(#g)"/><g filter="url(#b)">${discs.join('')}</g></svg>`,
  );
}

/**
 * The studio gradient: radial, centred across and 30 % down, reaching the bottom colour at 85 % of
 * the frame's width and height (an ellipse on a portrait frame), then flat. Computed here rather
 * than drawn as SVG (21-27 ms at 1024x1280 through librsvg, against about 10 ms): the same pixels
 * within one level.
 */
function drawGradient(
  out: Buffer,
  width: number,
  height: number,
  top: readonly [number, number, number],
  bottom: readonly [number, number, number],
): Buffer {
  // The colour at each 1/1024th of the way from the centre, looked up.
  const LEVELS = 1024;
  const colours = new Uint8Array((LEVELS + 1) * 3);
  for (let k = 0; k <= LEVELS; k++)
    for (let c = 0; c < 3; c++) colours[k * 3 + c] = top[c] + ((bottom[c] - top[c]) * k) / LEVELS + 0.5;
  const across = new Float64Array(width);
  for (let x = 0; x < width; x++) across[x] = ((x + 0.5) / width - 0.5) ** 2;
  const scale = LEVELS / 0.85;
  for (let y = 0; y < height; y++) {
    const down = ((y + 0.5) / height - 0.3) ** 2;
    for (let x = 0, o = y * width * 3; x < width; x++, o += 3) {
      const q = Math.min(LEVELS, (Math.sqrt(across[x] + down) * scale + 0.5) | 0) * 3;
      out[o] = colours[q];
      out[o + 1] = colours[q + 1];
      out[o + 2] = colours[q + 2];
    }
  }
  return out;
}

/** A solid or gradient backdrop drawn into `out` (packed RGB, width x height), which the caller owns. */
export function drawBackdrop(
  backdrop: Extract<Backdrop, { kind: 'solid' | 'gradient' }>,
  out: Buffer,
  width: number,
  height: number,
): Buffer {
  if (backdrop.kind === 'gradient') return drawGradient(out, width, height, backdrop.top, backdrop.bottom);
  const [r, g, b] = backdrop.rgb;
  for (let d = 0; d < width * height * 3; d += 3) {
    out[d] = r;
    out[d + 1] = g;
    out[d + 2] = b;
  }
  return out;
}

const raw = async (img: Sharp): Promise<RgbImage> => {
  const { data, info } = await img.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
};

/**
 * The office bokeh depends only on the style and the size, and drawing its blurred discs costs
 * about 270 ms of CPU at 1024x1280: it is drawn once and kept while renders come (module state is
 * per thread), dropped after DRAWN_IDLE_MS without one. A gradient (about 10 ms) is drawn each time:
 * 3.9 MB held per style and thread counts against the worker's memory budget. The pixels are
 * shared: a caller never writes into a backdrop.
 */
const DRAWN_IDLE_MS = 60_000;
const drawnCache = new Map<string, Promise<RgbImage>>();
let drawnTimer: NodeJS.Timeout | undefined;

function drawn(backdrop: Backdrop, width: number, height: number, draw: () => Promise<RgbImage>): Promise<RgbImage> {
  if (drawnTimer) drawnTimer.refresh();
  else {
    drawnTimer = setTimeout(() => {
      drawnCache.clear();
      drawnTimer = undefined;
    }, DRAWN_IDLE_MS);
    drawnTimer.unref();
  }
  const key = `${JSON.stringify(backdrop)}|${width}x${height}`;
  let image = drawnCache.get(key);
  if (!image) {
    image = draw();
    image.catch(() => drawnCache.delete(key));
    drawnCache.set(key, image);
  }
  return image;
}

/** Below this much background weight (0..1) in the near blur, the wide fill blends in. */
const NEAR_SUPPORT = 0.5;
/** Below this weight the near blur's colour is not used at all. */
const MIN_SUPPORT = 0.025;
/** Grid cells a frame's width: the blur is computed on this grid, then interpolated. */
const GRID = 128;

/** In place: three passes of a running box mean of radius r along rows then columns (about a Gaussian of sigma sqrt(r (r + 1))). */
function blurGrid(v: Float32Array, w: number, h: number, r: number): void {
  if (r < 1) return;
  const line = new Float32Array(Math.max(w, h));
  const pass = (n: number, at: (i: number) => number) => {
    for (let k = 0; k < 3; k++) {
      for (let i = 0; i < n; i++) line[i] = v[at(i)];
      let sum = 0;
      for (let i = -r; i <= r; i++) sum += line[Math.min(n - 1, Math.max(0, i))];
      for (let i = 0; i < n; i++) {
        v[at(i)] = sum / (2 * r + 1);
        sum += line[Math.min(n - 1, i + r + 1)] - line[Math.max(0, i - r)];
      }
    }
  };
  for (let y = 0; y < h; y++) pass(w, (i) => y * w + i);
  for (let x = 0; x < w; x++) pass(h, (i) => i * w + x);
}

/**
 * blur(I w) / blur(w) and blur(w) on a grid, in floating point: colour where little background is
 * near stays smooth instead of rounding to streaks.
 */
function normalisedBlur(
  sums: Float32Array[],
  gw: number,
  gh: number,
  r: number,
): { colour: Float32Array[]; support: Float32Array } {
  const [wsum, ...cs] = sums.map((v) => Float32Array.from(v));
  blurGrid(wsum, gw, gh, r);
  const colour = cs.map((c) => {
    blurGrid(c, gw, gh, r);
    for (let i = 0; i < c.length; i++) c[i] = wsum[i] > 1e-6 ? c[i] / wsum[i] : 0;
    return c;
  });
  return { colour, support: wsum };
}

/**
 * The style's backdrop at the frame's size. 'own-blur' is the photo's own background, blurred like
 * a fast lens: `background` weighs each framed pixel as background (255 - the person's matte, 0
 * beyond the photo), so neither the person nor anything beyond the photo bleeds in; where the
 * near blur finds little background (behind the person, beyond the photo), a much wider fill of
 * the same background takes over smoothly.
 */
export async function makeBackdrop(
  backdrop: Backdrop,
  width: number,
  height: number,
  framed?: RgbImage,
  background?: Uint8Array,
): Promise<RgbImage> {
  switch (backdrop.kind) {
    case 'solid':
    case 'gradient':
      return { data: drawBackdrop(backdrop, Buffer.allocUnsafe(width * height * 3), width, height), width, height };
    case 'bokeh':
      return drawn(backdrop, width, height, () => raw(sharp(bokehSvg(width, height, backdrop.top, backdrop.bottom))));
    case 'own-blur': {
      if (!framed || !background) throw new Error('own-blur needs the framed photo and its background weights');
      // Cell sums of the background weight (0..1) and of each channel weighted by it.
      const s = Math.max(1, Math.round(width / GRID));
      const gw = Math.ceil(width / s),
        gh = Math.ceil(height / s),
        n = gw * gh;
      const sums = [0, 1, 2, 3].map(() => new Float32Array(n));
      const cells = new Float32Array(n);
      const column = Int32Array.from({ length: width }, (_, x) => (x / s) | 0);
      const [s0, s1, s2, s3] = sums;
      const px = framed.data;
      for (let y = 0; y < height; y++) {
        const row = ((y / s) | 0) * gw;
        for (let x = 0, i = y * width; x < width; x++, i++) {
          const g = row + column[x];
          const wt = background[i] / 255;
          cells[g]++;
          if (!wt) continue;
          s0[g] += wt;
          s1[g] += wt * px[i * 3];
          s2[g] += wt * px[i * 3 + 1];
          s3[g] += wt * px[i * 3 + 2];
        }
      }
      const mean = [1, 2, 3].map((c) => sums[c].reduce((a, b) => a + b, 0));
      const total = sums[0].reduce((a, b) => a + b, 0);
      for (let g = 0; g < n; g++) for (let c = 0; c < 4; c++) sums[c][g] /= cells[g];
      // The near blur: the lens's sigma; the wide fill: five times that, for where the person (or
      // the world beyond the photo) leaves no background near.
      const sigma = (backdrop.sigma * (width / 1024)) / s;
      const radius = (sg: number) => Math.max(1, Math.round((Math.sqrt(1 + 4 * sg * sg) - 1) / 2));
      const near = normalisedBlur(sums, gw, gh, radius(sigma));
      const wide = normalisedBlur(sums, gw, gh, radius(5 * sigma));
      const grid = [0, 1, 2].map(() => new Float32Array(n));
      for (let g = 0; g < n; g++) {
        const sp = near.support[g];
        const t =
          sp >= NEAR_SUPPORT
            ? 1
            : sp <= MIN_SUPPORT
              ? 0
              : ((sp - MIN_SUPPORT) / (NEAR_SUPPORT - MIN_SUPPORT)) ** 2 *
                (3 - (2 * (sp - MIN_SUPPORT)) / (NEAR_SUPPORT - MIN_SUPPORT));
        for (let c = 0; c < 3; c++) {
          // Where neither finds background (a person filling the frame), the background's mean colour.
          const far = wide.support[g] > 1e-4 ? wide.colour[c][g] : total ? mean[c] / total : 128;
          grid[c][g] = t * near.colour[c][g] + (1 - t) * far;
        }
      }
      // Bilinear from cell centres to pixels (each column's cells and weight worked out once).
      const out = Buffer.alloc(width * height * 3);
      const left = new Int32Array(width),
        right = new Int32Array(width),
        across = new Float64Array(width);
      for (let x = 0; x < width; x++) {
        const u = Math.min(gw - 1, Math.max(0, (x + 0.5) / s - 0.5));
        left[x] = Math.floor(u);
        right[x] = Math.min(gw - 1, left[x] + 1);
        across[x] = u - left[x];
      }
      for (let y = 0; y < height; y++) {
        const v = Math.min(gh - 1, Math.max(0, (y + 0.5) / s - 0.5));
        const y0 = Math.floor(v),
          r0 = y0 * gw,
          r1 = Math.min(gh - 1, y0 + 1) * gw,
          fy = v - y0;
        for (let c = 0; c < 3; c++) {
          const G = grid[c];
          for (let x = 0, o = y * width * 3 + c; x < width; x++, o += 3) {
            const x0 = left[x],
              x1 = right[x],
              fx = across[x];
            const top = G[r0 + x0] + (G[r0 + x1] - G[r0 + x0]) * fx;
            const bot = G[r1 + x0] + (G[r1 + x1] - G[r1 + x0]) * fx;
            out[o] = Math.min(255, Math.max(0, top + (bot - top) * fy + 0.5));
          }
        }
      }
      return { data: out, width, height };
    }
  }
}

/** A small preview of a style's backdrop and light, for the style list (no person in it). */
export async function stylePreview(backdrop: Backdrop, size = 256): Promise<Buffer> {
  const bg =
    backdrop.kind === 'own-blur'
      ? {
          kind: 'gradient' as const,
          top: [170, 160, 150] as [number, number, number],
          bottom: [90, 85, 80] as [number, number, number],
        }
      : backdrop;
  const img = await makeBackdrop(bg, size, Math.round(size * 1.25));
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .png()
    .toBuffer();
}

/**
 * The person's light matched to the style's: a warm or purple room's cast taken partly out and a
 * dark face lifted a little on a studio backdrop, and the backdrop's light wrapped a few pixels
 * into the person's edge, so the person looks lit where they stand rather than pasted. Only colour
 * gains per channel and a blend at the edge: no pixel moves, so the face's geometry (what the
 * face-true check guards) is untouched. On the photo's own blurred background the person keeps
 * the room's light, which is the light of that background.
 */
import type { Style } from '../core/orders/catalog';
import type { RgbImage } from '../models/face-detector';
import { boxMean } from '../models/matte';

/** How much of the room's colour cast is taken out (0: none, 1: a grey-world neutral). */
export const CAST_STRENGTH = 0.3;
/** The most any channel moves for the cast: a gentle correction, never a new colour. */
const CAST_LIMIT = [0.94, 1.06] as const;
/** Face luma (sRGB 0..255) below which a studio render lifts the face, and the most it lifts. */
const FACE_TARGET = 125;
const LIFT_LIMIT = 1.2;
/** Light wrap strength on studio backdrops, and on the photo's own background. */
const WRAP = { studio: 0.3, own: 0.15 };
/** The rim's width, as a fraction of the frame's width (6 px at 1024). */
const RIM = 6 / 1024;
/** Grid cell for the rim's blur, px. */
const CELL = 4;

export interface PersonLight {
  /** Gains (sRGB) that take CAST_STRENGTH of the scene's colour cast out. */
  cast: [number, number, number];
  /** Gain that brings a dark face towards FACE_TARGET. */
  lift: number;
  /** Where the backdrop's light wraps into the edge, 0..255 a pixel. */
  rim: Uint8Array;
}

const LINEAR = Float32Array.from({ length: 256 }, (_, i) => {
  const v = i / 255;
  return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
});

/**
 * Measures the framed photo once: its grey-world cast (linear light, over the photo's own
 * pixels, `inPhoto` nonzero), the face's luma (opaque pixels of `face`, 0..1 a pixel), and the
 * matte's rim.
 */
export function measureLight(
  framed: RgbImage,
  alpha: Uint8Array,
  inPhoto: Uint8Array,
  face: Float32Array,
): PersonLight {
  const { data, width, height } = framed;
  const sum = [0, 0, 0];
  let n = 0,
    faceLuma = 0,
    faceWeight = 0;
  for (let i = 0, d = 0; i < alpha.length; i++, d += 3) {
    if (inPhoto[i]) {
      sum[0] += LINEAR[data[d]];
      sum[1] += LINEAR[data[d + 1]];
      sum[2] += LINEAR[data[d + 2]];
      n++;
    }
    const f = face[i];
    if (f > 0 && alpha[i] === 255) {
      faceLuma += f * (0.2126 * data[d] + 0.7152 * data[d + 1] + 0.0722 * data[d + 2]);
      faceWeight += f;
    }
  }
  const mean = sum.map((v) => v / Math.max(1, n));
  const grey = 0.2126 * mean[0] + 0.7152 * mean[1] + 0.0722 * mean[2];
  const cast = mean.map((m) => {
    const linear = m > 1e-4 ? (grey / m) ** CAST_STRENGTH : 1;
    return Math.min(CAST_LIMIT[1], Math.max(CAST_LIMIT[0], linear ** (1 / 2.2)));
  }) as [number, number, number];
  const luma = faceWeight ? faceLuma / faceWeight : FACE_TARGET;
  const lift = Math.min(LIFT_LIMIT, Math.max(1, Math.sqrt(FACE_TARGET / Math.max(1, luma))));
  return { cast, lift, rim: rimOf(alpha, width, height) };
}

/**
 * Where the backdrop's light wraps into the person: 2 a (1 - blur(a)), strongest at the matte's edge
 * and gone RIM inside it. The blur is a box mean on a grid of CELL-pixel cells, read bilinearly.
 */
function rimOf(alpha: Uint8Array, width: number, height: number): Uint8Array {
  const gw = Math.ceil(width / CELL),
    gh = Math.ceil(height / CELL);
  const cells = new Float32Array(gw * gh),
    count = new Float32Array(gw * gh);
  for (let y = 0; y < height; y++) {
    const row = ((y / CELL) | 0) * gw;
    for (let x = 0, i = y * width; x < width; x++, i++) {
      cells[row + ((x / CELL) | 0)] += alpha[i] / 255;
      count[row + ((x / CELL) | 0)]++;
    }
  }
  for (let g = 0; g < cells.length; g++) cells[g] /= count[g];
  const blurred = new Float32Array(cells.length);
  boxMean(cells, blurred, gw, gh, Math.max(1, Math.round((RIM * width) / CELL)), new Float64Array(gw));
  const rim = new Uint8Array(alpha.length);
  for (let y = 0; y < height; y++) {
    const v = Math.min(gh - 1, Math.max(0, (y + 0.5) / CELL - 0.5));
    const y0 = Math.floor(v),
      y1 = Math.min(gh - 1, y0 + 1),
      fy = v - y0;
    for (let x = 0, i = y * width; x < width; x++, i++) {
      const a = alpha[i];
      if (a === 0) continue;
      const gx = (x / CELL) | 0;
      // Deep inside (the cell and its neighbours opaque) there is no rim: skip the interpolation.
      if (blurred[y0 * gw + gx] >= 0.999 && blurred[y1 * gw + gx] >= 0.999) continue;
      const u = Math.min(gw - 1, Math.max(0, (x + 0.5) / CELL - 0.5));
      const x0 = Math.floor(u),
        x1 = Math.min(gw - 1, x0 + 1),
        fx = u - x0;
      const top = blurred[y0 * gw + x0] + (blurred[y0 * gw + x1] - blurred[y0 * gw + x0]) * fx;
      const bot = blurred[y1 * gw + x0] + (blurred[y1 * gw + x1] - blurred[y1 * gw + x0]) * fx;
      const b = top + (bot - top) * fy;
      rim[i] = Math.min(255, 2 * a * (1 - b) + 0.5);
    }
  }
  return rim;
}

/** The gains and light wrap a style composites the person with. */
export function lightFor(
  light: PersonLight,
  style: Style,
): { gain: [number, number, number]; wrap: { strength: number; rim: Uint8Array } } {
  if (style.backdrop.kind === 'own-blur') return { gain: [1, 1, 1], wrap: { strength: WRAP.own, rim: light.rim } };
  return {
    gain: light.cast.map((g) => g * light.lift) as [number, number, number],
    wrap: { strength: WRAP.studio, rim: light.rim },
  };
}

import sharp, { type Sharp } from 'sharp';
import type { Backdrop } from './catalog';

export interface RgbImage {
  data: Buffer | Uint8Array;
  width: number;
  height: number;
}

/** Deterministic soft light discs for the office bokeh, positions from a fixed sequence. */
function bokehSvg(width: number, height: number, top: [number, number, number], bottom: [number, number, number]): Buffer {
  const discs: string[] = [];
  let seed = 7;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  for (let i = 0; i < 22; i++) {
    const r = (0.04 + rnd() * 0.09) * width;
    const warm = 200 + Math.round(rnd() * 55);
    discs.push(`<circle cx="${(rnd() * width).toFixed(1)}" cy="${(rnd() * height * 0.7).toFixed(1)}" r="${r.toFixed(1)}" fill="rgb(255,${warm},${Math.round(warm * 0.7)})" fill-opacity="${(0.10 + rnd() * 0.18).toFixed(2)}"/>`);
  }
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><defs><linearGradient id="g" x1="0" y1="0" x2="0" y2="1">` +
      `<stop offset="0" stop-color="rgb(${top.join(',')})"/><stop offset="1" stop-color="rgb(${bottom.join(',')})"/></linearGradient>` +
      `<filter id="b"><feGaussianBlur stdDeviation="${(width * 0.012).toFixed(1)}"/></filter></defs>` +
      `<rect width="100%" height="100%" fill="url(#g)"/><g filter="url(#b)">${discs.join('')}</g></svg>`,
  );
}

function gradientSvg(width: number, height: number, top: [number, number, number], bottom: [number, number, number]): Buffer {
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><defs><radialGradient id="g" cx="50%" cy="30%" r="85%">` +
      `<stop offset="0" stop-color="rgb(${top.join(',')})"/><stop offset="1" stop-color="rgb(${bottom.join(',')})"/></radialGradient></defs>` +
      `<rect width="100%" height="100%" fill="url(#g)"/></svg>`,
  );
}

const raw = async (img: Sharp): Promise<RgbImage> => {
  const { data, info } = await img.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
};

/** Below this much background weight (0..255) in the near blur, the wide fill blends in. */
const NEAR_SUPPORT = 128;
/** Below this weight a blurred colour is mostly rounding: not used. */
const MIN_SUPPORT = 6;

/** Blurs an image computed `small` px wide, back at full size (no alpha: nothing is premultiplied). */
async function blurSmall(data: Buffer, channels: 1 | 3, width: number, height: number, small: number, sigma: number): Promise<Buffer> {
  const h = Math.max(1, Math.round((height * small) / width));
  // One pipeline per step: sharp resizes before it blurs and keeps only the last resize. And it
  // writes one channel out as three unless told to keep it grey.
  const space = channels === 1 ? 'b-w' : 'srgb';
  const step = async (input: Buffer, w: number, hh: number, op: (s: Sharp) => Sharp) => op(sharp(input, { raw: { width: w, height: hh, channels } })).toColourspace(space).raw().toBuffer();
  const reduced = await step(data, width, height, (s) => s.resize(small, h));
  const blurred = await step(reduced, small, h, (s) => s.blur(Math.max(0.3, sigma)));
  // Linear, not cubic: an overshoot would make colour / weight swing where the weight is small.
  return step(blurred, small, h, (s) => s.resize(width, height, { kernel: 'linear' }));
}

/** blur(I * w) / blur(w) in 0..255 per channel, and blur(w), at one scale. */
async function normalisedBlur(premultiplied: Buffer, weight: Buffer, width: number, height: number, small: number, sigma: number): Promise<{ colour: Buffer; support: Buffer }> {
  const [colour, support] = await Promise.all([blurSmall(premultiplied, 3, width, height, small, sigma), blurSmall(weight, 1, width, height, small, sigma)]);
  return { colour, support };
}

/**
 * The style's backdrop at the frame's size. 'own-blur' is the photo's own background, blurred like
 * a fast lens: `background` weighs each framed pixel as background (255 - the person's matte, 0
 * beyond the photo), so neither the person nor anything beyond the photo bleeds in; where the
 * near blur finds little background (behind the person, beyond the photo), a much wider fill of
 * the same background takes over smoothly.
 */
export async function makeBackdrop(backdrop: Backdrop, width: number, height: number, framed?: RgbImage, background?: Uint8Array): Promise<RgbImage> {
  switch (backdrop.kind) {
    case 'solid':
      return raw(sharp({ create: { width, height, channels: 3, background: { r: backdrop.rgb[0], g: backdrop.rgb[1], b: backdrop.rgb[2] } } }));
    case 'gradient':
      return raw(sharp(gradientSvg(width, height, backdrop.top, backdrop.bottom)));
    case 'bokeh':
      return raw(sharp(bokehSvg(width, height, backdrop.top, backdrop.bottom)));
    case 'own-blur': {
      if (!framed || !background) throw new Error('own-blur needs the framed photo and its background weights');
      const n = width * height;
      // blur(I * w) / blur(w) fills the person's area (and anything beyond the photo) from around it.
      const premultiplied = Buffer.alloc(n * 3);
      for (let i = 0; i < n * 3; i++) premultiplied[i] = (framed.data[i] * background[(i / 3) | 0]) / 255 + 0.5;
      const weight = Buffer.from(background.buffer, background.byteOffset, n);
      const sigma = backdrop.sigma * (width / 1024);
      const small = Math.max(32, Math.round(width / 8));
      const near = await normalisedBlur(premultiplied, weight, width, height, small, sigma * (small / width));
      const wide = await normalisedBlur(premultiplied, weight, width, height, 16, 3);
      // Where neither finds background (a person filling the frame), the background's mean colour.
      const mean = [0, 0, 0];
      let total = 0;
      for (let i = 0; i < n; i++) {
        total += background[i];
        for (let c = 0; c < 3; c++) mean[c] += premultiplied[i * 3 + c];
      }
      for (let c = 0; c < 3; c++) mean[c] = total ? (mean[c] * 255) / total : 128;
      const out = Buffer.alloc(n * 3);
      for (let i = 0; i < n; i++) {
        const s = near.support[i], ws = wide.support[i];
        // The near blur's colour is only as good as its weight: below NEAR_SUPPORT it hands over.
        const t = s >= NEAR_SUPPORT ? 1 : s < MIN_SUPPORT ? 0 : ((s - MIN_SUPPORT) / (NEAR_SUPPORT - MIN_SUPPORT)) ** 2 * (3 - (2 * (s - MIN_SUPPORT)) / (NEAR_SUPPORT - MIN_SUPPORT));
        for (let c = 0; c < 3; c++) {
          const far = ws >= MIN_SUPPORT ? Math.min(255, (wide.colour[i * 3 + c] * 255) / ws) : mean[c];
          out[i * 3 + c] = (t ? t * Math.min(255, (near.colour[i * 3 + c] * 255) / s) : 0) + (1 - t) * far + 0.5;
        }
      }
      return { data: out, width, height };
    }
  }
}

/** A small preview of a style's backdrop and light, for the style list (no person in it). */
export async function stylePreview(backdrop: Backdrop, size = 256): Promise<Buffer> {
  const bg = backdrop.kind === 'own-blur' ? { kind: 'gradient' as const, top: [170, 160, 150] as [number, number, number], bottom: [90, 85, 80] as [number, number, number] } : backdrop;
  const img = await makeBackdrop(bg, size, Math.round(size * 1.25));
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer();
}

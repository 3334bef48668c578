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

/**
 * The style's backdrop at the frame's size. 'own-blur' is the photo's own background, blurred like
 * a fast lens: the person is removed first (alpha-weighted blur), so no halo of them bleeds in.
 */
export async function makeBackdrop(backdrop: Backdrop, width: number, height: number, framed?: RgbImage, alpha?: Uint8Array, coverage?: Uint8Array): Promise<RgbImage> {
  switch (backdrop.kind) {
    case 'solid':
      return raw(sharp({ create: { width, height, channels: 3, background: { r: backdrop.rgb[0], g: backdrop.rgb[1], b: backdrop.rgb[2] } } }));
    case 'gradient':
      return raw(sharp(gradientSvg(width, height, backdrop.top, backdrop.bottom)));
    case 'bokeh':
      return raw(sharp(bokehSvg(width, height, backdrop.top, backdrop.bottom)));
    case 'own-blur': {
      if (!framed || !alpha) throw new Error('own-blur needs the framed photo and its alpha');
      const n = width * height;
      // Background weight w = 1 - alpha; blur(I * w) / blur(w) fills the person's area from around it.
      const weighted = Buffer.alloc(n * 4);
      for (let i = 0; i < n; i++) {
        // Pixels beyond the photo (coverage 0) hold no background: they are filled from around too.
        const w = coverage && coverage[i] === 0 ? 0 : 255 - alpha[i];
        weighted[i * 4] = (framed.data[i * 3] * w) / 255;
        weighted[i * 4 + 1] = (framed.data[i * 3 + 1] * w) / 255;
        weighted[i * 4 + 2] = (framed.data[i * 3 + 2] * w) / 255;
        weighted[i * 4 + 3] = w;
      }
      const sigma = backdrop.sigma * (width / 1024);
      const small = Math.max(32, Math.round(width / 8));
      const scale = small / width;
      const blurred = await sharp(weighted, { raw: { width, height, channels: 4 } })
        .resize(small, Math.round(height * scale))
        .blur(Math.max(0.3, sigma * scale))
        .resize(width, height, { kernel: 'cubic' })
        .raw()
        .toBuffer();
      const out = Buffer.alloc(n * 3);
      for (let i = 0; i < n; i++) {
        const w = blurred[i * 4 + 3];
        for (let c = 0; c < 3; c++) out[i * 3 + c] = w > 2 ? Math.min(255, (blurred[i * 4 + c] * 255) / w) : 128;
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

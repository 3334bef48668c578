import sharp from 'sharp';

// Figures and test photos for the benchmarks. Kept apart from bench/support.ts, which imports
// main.ts: a bundled benchmark would then start the service itself.

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export const fmt = (x: number, digits = 1) => x.toFixed(digits);

/**
 * A 4000x3000 selfie: the astronaut enlarged so her face (about 106 px of 512) is about 800 px
 * wide, with headroom above, at camera quality. The grain stands in for a real photo's detail:
 * without it the 7.5x enlargement is rightly rejected as blurred (sharpness 32), and the JPEG
 * would be unrealistically small (with it: about 2.9 MB).
 */
export async function twelveMegapixelSelfie(): Promise<Buffer> {
  const side = 3866; // 512 * 7.55: face about 800 px
  const top = 250;
  const body = await sharp('test/fixtures/astronaut.png')
    .removeAlpha()
    .resize(side, side, { kernel: 'lanczos3' })
    .extract({ left: 0, top: 0, width: side, height: 3000 - top })
    .toBuffer();
  const left = Math.floor((4000 - side) / 2);
  const base = await sharp(body)
    .extend({ top, left, right: 4000 - side - left, bottom: 0, extendWith: 'copy' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  for (let i = 0; i < base.data.length; i++)
    base.data[i] = Math.max(0, Math.min(255, base.data[i] + ((i * 2654435761) % 13) - 6));
  return sharp(base.data, { raw: base.info }).jpeg({ quality: 92 }).toBuffer();
}

/** A ~5 MB, 3000x3000 JPEG made from the astronaut: upscaled, with grain so it does not compress away. */
export async function fiveMegabytePhoto(): Promise<Buffer> {
  const base = await sharp('test/fixtures/astronaut.png')
    .resize(3000, 3000)
    .raw()
    .toBuffer({ resolveWithObject: true });
  for (let i = 0; i < base.data.length; i++)
    base.data[i] = Math.max(0, Math.min(255, base.data[i] + ((i * 2654435761) % 41) - 20));
  return sharp(base.data, { raw: base.info }).jpeg({ quality: 97 }).toBuffer();
}

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { ReasonCode, Side } from '../../core/photos/verdict';

/**
 * The common ways a selfie goes wrong, made reproducibly from the public-domain fixtures
 * (test/fixtures/README.md) with sharp: soft, small in the frame, cut by each edge, turned, and
 * not a face at all. Each names the reason a true verdict gives it. Used by the analysis tests and
 * by bench/detection.bench.ts, which prints the table of reasons and measurements.
 */
export interface SelfieFixture {
  name: string;
  make: () => Promise<Buffer>;
  /** The reason the verdict must give, with its side or angle where it names one; undefined: usable. */
  expect?: { code: ReasonCode; side?: Side; angle?: number };
}

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');
const load = (name: string) => readFile(path.join(FIXTURES, name));
const png = (s: ReturnType<typeof sharp>) => s.png().toBuffer();

/** The astronaut (face about 106 px wide in 512) shrunk so her face is `fraction` of a 1328x928 photo's shorter side, on a soft backdrop. */
async function smallFace(fraction: number): Promise<Buffer> {
  const size = Math.round((512 * fraction * 928) / 106);
  const person = await sharp(await load('astronaut.png'))
    .resize(size, size)
    .png()
    .toBuffer();
  const backdrop = await sharp(await load('coffee.png'))
    .resize(1328, 928)
    .blur(3)
    .png()
    .toBuffer();
  return png(
    sharp(backdrop).composite([{ input: person, left: Math.round(664 - size / 2), top: Math.round(464 - size / 2) }]),
  );
}

export const SELFIE_FIXTURES: SelfieFixture[] = [
  { name: 'astronaut (studio portrait)', make: () => load('astronaut.png') },
  ...[2, 3, 4, 6, 8].map((sigma) => ({
    name: `blurred, sigma ${sigma}`,
    make: async () => png(sharp(await load('astronaut.png')).blur(sigma)),
    expect: { code: 'blurred' as const },
  })),
  ...[0.03, 0.05, 0.1].map((f) => ({
    name: `face ${f * 100} % of the frame`,
    make: () => smallFace(f),
    expect: { code: 'face_too_small' as const },
  })),
  { name: 'face 20 % of the frame', make: () => smallFace(0.2) },
  {
    name: 'cut by the left edge',
    make: async () => png(sharp(await load('astronaut.png')).extract({ left: 210, top: 0, width: 302, height: 512 })),
    expect: { code: 'face_cut_off', side: 'left' },
  },
  {
    name: 'cut by the right edge',
    make: async () => png(sharp(await load('astronaut.png')).extract({ left: 0, top: 0, width: 240, height: 512 })),
    expect: { code: 'face_cut_off', side: 'right' },
  },
  {
    name: 'cut by the top edge',
    make: async () => png(sharp(await load('astronaut.png')).extract({ left: 0, top: 110, width: 512, height: 402 })),
    expect: { code: 'face_cut_off', side: 'top' },
  },
  {
    name: 'cut by the bottom edge',
    make: async () => png(sharp(await load('astronaut.png')).extract({ left: 0, top: 0, width: 512, height: 150 })),
    expect: { code: 'face_cut_off', side: 'bottom' },
  },
  ...[90, 180, 270].map((angle) => ({
    name: `turned ${angle}° clockwise, no orientation tag`,
    make: async () => png(sharp(await load('astronaut.png')).rotate(angle)),
    expect: { code: 'rotated' as const, angle },
  })),
  { name: 'a cat (chelsea)', make: () => load('chelsea.png'), expect: { code: 'no_face' } },
  { name: 'a cup of coffee', make: () => load('coffee.png'), expect: { code: 'no_face' } },
  {
    name: 'two astronauts side by side',
    make: async () => {
      const a = await load('astronaut.png');
      return png(
        sharp({ create: { width: 1024, height: 512, channels: 3, background: '#000' } }).composite([
          { input: a, left: 0, top: 0 },
          { input: a, left: 512, top: 0 },
        ]),
      );
    },
    expect: { code: 'several_faces' },
  },
];

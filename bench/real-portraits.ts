import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';

/**
 * Single-person crops of the shared party photographs (`/work/shared/fixtures/real`, MIT, from the
 * demo folder of @vladmandic/face-api@1.7.15; REAL_PHOTOS_DIR points elsewhere), cut as a person
 * would upload a portrait: busy backgrounds, purple and warm light, long dark, blond and curly hair,
 * an accessory in the hair, a head tilted, a photo that ends at the chest. For the matte benchmark
 * and review sheets: `npm run bench:matte`.
 */
export const REAL_PHOTOS_DIR = process.env.REAL_PHOTOS_DIR ?? '/work/shared/fixtures/real';

const CROPS: { name: string; file: string; rect: [number, number, number, number]; what: string }[] = [
  { name: 'p1-bow', file: 'party-1.jpg', rect: [288, 168, 504, 840], what: 'bow in the hair, dark room' },
  { name: 'p1-red-tilt', file: 'party-1.jpg', rect: [1272, 144, 624, 864], what: 'long red-blond hair, head tilted' },
  { name: 'p1-dark-center', file: 'party-1.jpg', rect: [720, 288, 528, 792], what: 'long black hair on black' },
  { name: 'p3-curly-blond', file: 'party-3.jpg', rect: [456, 216, 528, 792], what: 'curly blond hair, bar windows' },
  { name: 'p3-dark-purple', file: 'party-3.jpg', rect: [1332, 192, 576, 816], what: 'dark hair, warm window light' },
  { name: 'p3-middle-chest', file: 'party-3.jpg', rect: [1008, 120, 432, 504], what: 'ends at the chest' },
  { name: 'p4-blond-long', file: 'party-4.jpg', rect: [1200, 72, 552, 792], what: 'long blond hair, purple light' },
  { name: 'p4-dark-waves', file: 'party-4.jpg', rect: [48, 48, 600, 816], what: 'long dark waves, arm raised, purple wall' },
  { name: 'p4-pattern', file: 'party-4.jpg', rect: [936, 72, 408, 720], what: 'patterned dress, people beside' },
  { name: 'p4-tilted', file: 'party-4.jpg', rect: [600, 0, 408, 792], what: 'head tilted, tight crop' },
  { name: 'p5-right', file: 'party-5.jpg', rect: [1344, 240, 552, 792], what: 'brown hair against a white wall' },
  { name: 'p5-top', file: 'party-5.jpg', rect: [696, 24, 336, 600], what: 'tied hair, stairs behind' },
];

export interface RealPortrait {
  name: string;
  what: string;
  /** JPEG as a person would upload it. */
  data: Buffer;
}

/** The crops, or none when the shared photographs are not on this machine. */
export async function realPortraits(): Promise<RealPortrait[]> {
  if (!existsSync(REAL_PHOTOS_DIR)) return [];
  return Promise.all(
    CROPS.map(async (c) => {
      const [left, top, width, height] = c.rect;
      const data = await sharp(path.join(REAL_PHOTOS_DIR, c.file)).extract({ left, top, width, height }).jpeg({ quality: 92 }).toBuffer();
      return { name: c.name, what: c.what, data };
    }),
  );
}

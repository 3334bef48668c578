import sharp from 'sharp';
import { fixture } from './stack';

/**
 * Phone-style selfies cut from test/fixtures/astronaut.png (512x512, NASA, public domain), as a
 * person sends them: tight crops that cut the top of the head, the chin or a side, crops with no
 * shoulders, and 400-600 px photos. Her face there: box x 173-277, y 74-178 (104 px wide), eyes
 * at y 103-105, hair top near y 15, chin near y 180.
 */
export interface SelfieCrop {
  name: string;
  /** PNG as a person would upload it. */
  data: Buffer;
  /** The photo's edge that cuts through the head, if any. */
  headCut?: 'top' | 'left' | 'right';
}

const CROPS: {
  name: string;
  rect: { left: number; top: number; width: number; height: number };
  width?: number;
  headCut?: SelfieCrop['headCut'];
}[] = [
  { name: 'studio-512', rect: { left: 0, top: 0, width: 512, height: 512 } },
  { name: 'phone-440x512', rect: { left: 36, top: 0, width: 440, height: 512 }, width: 440 },
  { name: 'hair-grazed', rect: { left: 80, top: 12, width: 300, height: 380 }, width: 420 },
  { name: 'top-cut', rect: { left: 90, top: 48, width: 280, height: 350 }, width: 420, headCut: 'top' },
  { name: 'chin-cut-no-shoulders', rect: { left: 140, top: 0, width: 170, height: 190 }, width: 400 },
  { name: 'head-only', rect: { left: 130, top: 0, width: 190, height: 240 }, width: 450 },
  { name: 'side-cut', rect: { left: 172, top: 0, width: 300, height: 400 }, width: 450, headCut: 'left' },
  { name: 'shoulders-cut-bottom', rect: { left: 60, top: 0, width: 340, height: 260 }, width: 560 },
];

export const SELFIE_CROPS = CROPS.map((c) => c.name);

export async function selfieCrops(): Promise<SelfieCrop[]> {
  const src = await fixture('astronaut.png');
  return Promise.all(
    CROPS.map(async (c) => {
      let img = sharp(src).removeAlpha().extract(c.rect);
      if (c.width) img = sharp(await img.png().toBuffer()).resize({ width: c.width, kernel: 'lanczos3' });
      return { name: c.name, data: await img.png().toBuffer(), headCut: c.headCut };
    }),
  );
}

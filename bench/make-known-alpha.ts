/**
 * Makes the known-alpha fixtures of test/fixtures/known-alpha/: people cut from the shared party
 * photographs with the ISNet peer's matte (bench/peer, AGPL-3.0: it runs
 * here, once, and only its output alpha is kept), as RGBA PNGs. A test pastes them on busy and
 * saturated backgrounds, so the true alpha of that composite is known
 * (test/unit/known-alpha.test.ts). The colours are the photo's own.
 *
 *   npm --prefix bench/peer install && npx tsx bench/make-known-alpha.ts
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { dilate } from '../test/support/matte-measures';
import { loadPeer } from './peer';

/**
 * The people cut out, from the shared party photographs (`/work/shared/fixtures/real`, MIT, the
 * demo folder of @vladmandic/face-api@1.7.15; REAL_PHOTOS_DIR points elsewhere): long blond hair
 * in purple light, long red-blond hair with the head tilted. [left, top, width, height].
 */
const PEOPLE: { name: string; file: string; rect: [number, number, number, number] }[] = [
  { name: 'p4-blond-long', file: 'party-4.jpg', rect: [1200, 72, 552, 792] },
  { name: 'p1-red-tilt', file: 'party-1.jpg', rect: [1272, 144, 624, 864] },
];
const REAL_PHOTOS_DIR = process.env.REAL_PHOTOS_DIR ?? '/work/shared/fixtures/real';
const OUT = 'test/fixtures/known-alpha';

/**
 * In place on RGBA: alpha only on the largest person (the peer keeps a neighbour's hair, faintly):
 * zero beyond KEEP px of the largest connected region of alpha >= 128.
 */
function onePerson(rgba: Buffer, w: number, h: number): void {
  const n = w * h;
  const label = new Int32Array(n).fill(-1);
  const sizes: number[] = [];
  const stack: number[] = [];
  for (let s = 0; s < n; s++) {
    if (label[s] >= 0 || rgba[s * 4 + 3] < 128) continue;
    const id = sizes.length;
    let size = 0;
    label[s] = id;
    stack.push(s);
    while (stack.length) {
      const i = stack.pop()!;
      size++;
      const x = i % w;
      for (const j of [x > 0 ? i - 1 : -1, x < w - 1 ? i + 1 : -1, i - w, i + w]) {
        if (j < 0 || j >= n || label[j] >= 0 || rgba[j * 4 + 3] < 128) continue;
        label[j] = id;
        stack.push(j);
      }
    }
    sizes.push(size);
  }
  const main = sizes.indexOf(Math.max(...sizes));
  const keep = new Float32Array(n);
  for (let i = 0; i < n; i++) keep[i] = label[i] === main ? 1 : 0;
  const near = dilate(keep, w, h, KEEP);
  for (let i = 0; i < n; i++) if (near[i] === 0) rgba[i * 4 + 3] = 0;
}

/** How far from the person's solid part a soft alpha (hair) is kept, px. */
const KEEP = 12;

async function main() {
  const peer = await loadPeer();
  if (!peer) throw new Error('the peer is needed to cut the people out');
  await mkdir(OUT, { recursive: true });
  for (const p of PEOPLE) {
    const [left, top, width, height] = p.rect;
    const photo = await sharp(path.join(REAL_PHOTOS_DIR, p.file))
      .extract({ left, top, width, height })
      .jpeg({ quality: 92 })
      .toBuffer();
    const cut = await peer.removeBackground(photo, 'image/jpeg');
    const { data, info } = await sharp(cut).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    onePerson(data, info.width, info.height);
    const rgba = await sharp(data, { raw: info }).png({ compressionLevel: 9 }).toBuffer();
    await writeFile(`${OUT}/${p.name}.png`, rgba);
    const meta = await sharp(rgba).metadata();
    console.log(`${OUT}/${p.name}.png: ${meta.width}x${meta.height}, ${(rgba.length / 1024).toFixed(0)} KB`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

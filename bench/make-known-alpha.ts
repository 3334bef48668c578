/**
 * Makes the known-alpha fixtures of test/fixtures/known-alpha/: people cut from the shared party
 * photographs (bench/real-portraits.ts) with the ISNet peer's matte (bench/peer, AGPL-3.0: it runs
 * here, once, and only its output alpha is kept), as RGBA PNGs. A test pastes them on busy and
 * saturated backgrounds, so the true alpha of that composite is known
 * (test/unit/known-alpha.test.ts). The colours are the photo's own.
 *
 *   npm --prefix bench/peer install && npx tsx bench/make-known-alpha.ts
 */
import { mkdir, writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import { dilate } from '../test/support/matte-measures';
import { loadPeer } from './peer';
import { realPortraits } from './real-portraits';

/** The portraits cut out: long blond hair in purple light, long red hair with a tilted head. */
const PEOPLE = ['p4-blond-long', 'p1-red-tilt'];
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
  const portraits = (await realPortraits()).filter((p) => PEOPLE.includes(p.name));
  if (portraits.length !== PEOPLE.length) throw new Error('the shared party photographs are not here (REAL_PHOTOS_DIR)');
  await mkdir(OUT, { recursive: true });
  for (const p of portraits) {
    const cut = await peer.removeBackground(p.data, 'image/jpeg');
    const { data, info } = await sharp(cut).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    onePerson(data, info.width, info.height);
    const rgba = await sharp(data, { raw: info }).png({ compressionLevel: 9 }).toBuffer();
    await writeFile(`${OUT}/${p.name}.png`, rgba);
    const meta = await sharp(rgba).metadata();
    console.log(`${OUT}/${p.name}.png: ${meta.width}x${meta.height}, ${(rgba.length / 1024).toFixed(0)} KB (${p.what})`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

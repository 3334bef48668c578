/**
 * Makes the HEIC fixtures in test/fixtures/heic (committed, so neither tests nor CI need an encoder):
 *   apt-get install -y libheif-examples && npx tsx test/support/make-heic-fixtures.ts
 *
 * iphone-sideways.heic is the astronaut (test/fixtures/astronaut.png) as an iPhone saves a photo
 * taken with the phone held sideways: HEVC-coded (x265 through Debian's heif-enc), the pixels stored
 * lying on their side, an irot property telling readers to turn them 90° clockwise, and Exif with
 * orientation 6 (the same turn), a camera make and a GPS position. heif-enc 1.15 writes no irot, so
 * it is added here by rewriting the container's boxes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { boxesIn, child, ilocExtents, metaBox } from '../../core/photos/heif';

const OUT = path.resolve(import.meta.dirname, '../fixtures/heic');

/** Adds an irot property (`quarterTurns` anticlockwise, as HEIF counts them) to the primary item, moving the image data after it. */
export function withIrot(heic: Buffer, quarterTurns: number): Buffer {
  const meta = metaBox(heic)!;
  const iprp = child(heic, meta, 'iprp', true)!;
  const ipco = child(heic, iprp, 'ipco')!;
  const ipma = child(heic, iprp, 'ipma')!;
  const iloc = child(heic, meta, 'iloc', true)!;
  const pitm = child(heic, meta, 'pitm', true)!;
  const primary = heic.readUInt16BE(pitm.body + 4);
  if (heic[ipma.body] !== 0 || (heic.readUInt32BE(ipma.body) & 1) !== 0)
    throw new Error('ipma: only version 0 with 7-bit indices is handled');
  const irotIndex = boxesIn(heic, ipco.body, ipco.end).length + 1;
  const irot = Buffer.from([0, 0, 0, 9, ...Buffer.from('irot'), quarterTurns & 3]);
  // ipma v0: entry_count (4), then per item: item_ID (2), count (1), associations (1 each: essential bit, 7-bit index).
  let p = ipma.body + 8;
  const entries = heic.readUInt32BE(ipma.body + 4);
  let insertAt = -1;
  for (let i = 0; i < entries; i++) {
    const item = heic.readUInt16BE(p);
    const count = heic[p + 2];
    if (item === primary) insertAt = p + 3 + count;
    p += 3 + count;
  }
  if (insertAt < 0) throw new Error('ipma: the primary item has no properties');
  const grow = irot.length + 1;
  const out = Buffer.concat([
    heic.subarray(0, ipco.end),
    irot,
    heic.subarray(ipco.end, insertAt),
    Buffer.from([0x80 | irotIndex]),
    heic.subarray(insertAt),
  ]);
  // Sizes of the boxes that grew, and the primary's association count (each shifted past the irot box).
  const bump = (at: number, by: number) => out.writeUInt32BE(out.readUInt32BE(at) + by, at);
  bump(meta.start, grow);
  bump(iprp.start, grow);
  bump(ipco.start, irot.length);
  bump(ipma.start + irot.length, 1);
  p = ipma.body + irot.length + 8;
  for (let i = 0; i < entries; i++) {
    const item = out.readUInt16BE(p);
    const count = out[p + 2];
    if (item === primary) {
      out[p + 2] = count + 1;
      break;
    }
    p += 3 + count;
  }
  // Item data after the meta box moved by `grow` bytes.
  const newIloc = child(out, metaBox(out)!, 'iloc', true)!;
  if (newIloc.start !== iloc.start) throw new Error('iloc moved');
  const moved = new Set<number>();
  for (const e of ilocExtents(out, newIloc)) {
    if (e.method !== 0 || e.offset < meta.end) continue;
    // Move the item's base offset once when it has one, else each extent's own offset.
    const [at, size] = e.baseSize ? [e.baseAt, e.baseSize] : [e.offsetAt, e.offsetSize];
    if (moved.has(at)) continue;
    if (size !== 4) throw new Error('iloc: only 4-byte offsets are handled');
    out.writeUInt32BE(out.readUInt32BE(at) + grow, at);
    moved.add(at);
  }
  return out;
}

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), 'heic-'));
  const jpeg = path.join(dir, 'sideways.jpg');
  // Stored lying on its side: the upright astronaut turned 90° anticlockwise.
  await sharp(path.resolve(import.meta.dirname, '../fixtures/astronaut.png'))
    .removeAlpha()
    .rotate(270)
    .withMetadata({ orientation: 6 })
    .withExif({
      IFD0: { Make: 'Apple', Model: 'iPhone 13' },
      IFD3: {
        GPSLatitudeRef: 'N',
        GPSLatitude: '48/1 51/1 3024/100',
        GPSLongitudeRef: 'E',
        GPSLongitude: '2/1 17/1 4020/100',
      },
    })
    .jpeg({ quality: 95 })
    .toFile(jpeg);
  const heic = path.join(dir, 'sideways.heic');
  execFileSync('heif-enc', ['-q', '60', '-o', heic, jpeg]);
  // Turn 90° clockwise to view: three quarter turns anticlockwise.
  writeFileSync(path.join(OUT, 'iphone-sideways.heic'), withIrot(readFileSync(heic), 3));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

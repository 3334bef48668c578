/**
 * Matte quality on real portraits (issue 20): Rasmi's matte before (the segmenter's mask through
 * the guided filter alone) and after (models/person-matte.ts: colour model, the face's person,
 * spill removed), each against the ISNet peer in bench/peer (AGPL-3.0, benchmark only), on the
 * same framed pixels the renderer mattes.
 *
 *   npm run bench:matte                       # the real set's usable head-and-shoulders crops
 *   npm run bench:matte -- a.jpg b.jpg        # your photos
 *
 * Per photo and mean: IoU with the peer's matte over the whole frame and in a band BAND of the
 * frame's width around the peer's edge (alpha halved at 128), the mean absolute alpha difference
 * (0..255) in that band, and the colour fringe: on grey, white and navy backdrops, the mean CIELAB
 * a*b* distance between the composite in the matte's own edge band (partly transparent pixels and
 * the person's outer EDGE of the frame's width) and what a clean edge would be there, the person's
 * interior colour nearby blended with the backdrop by the same alpha. The peer's figure is its
 * matte with the photo's colours; Rasmi after composites its spill-free edge colours. Each method's
 * time is printed beside it. Writes out/matte-<time>/<photo>.png: the frame, then each matte on grey.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { loadConfig } from '../core/platform/config';
import { decodeRgb, normaliseUpload } from '../core/photos/images';
import type { RgbImage } from '../models/face-detector';
import { composite, refineMask, solidImage } from '../models/matte';
import { createAnalyser, thresholdsFrom } from '../worker/analysis';
import { loadRenderModels } from '../worker/pixel-work';
import { warp } from '../worker/framing';
import { framePeople, matte, photoPeople, prepare, subjectFace } from '../worker/render';
import { estimateForeground } from '../models/person-matte';
import { loadPeer } from './peer';
import { readCrop, REAL_SET } from '../test/support/real-set';
import { fmt } from './util';
import { edgeBand, fringe, iou, meanAbs } from '../test/support/matte-measures';

const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
/** The real set's usable head-and-shoulders crops (test/fixtures/real), p5-turned's tight crop, and the two crops added for dark hair before dark neighbours and a dark room. */
const BENCH_SET = REAL_SET.filter(
  (c) =>
    c.usable &&
    (c.file.endsWith('-hs.jpg') ||
      c.file === 'p5-turned-tight.jpg' ||
      ['p3-blonde-ponytail.jpg', 'p3-dark-long.jpg'].includes(c.file)),
);
/** Half-width of the band around the peer's edge, as a fraction of the frame's width (16 px at 1024). */
const BAND = 16 / 1024;
const CACHE = path.join('out', 'matte-peer-cache');

interface Method {
  alpha: Uint8Array;
  /** The colours composited with that alpha. */
  colours: RgbImage;
  ms: number;
}

/** The peer's alpha for these framed pixels (cached by their hash: it takes seconds). */
async function peerAlpha(
  peer: NonNullable<Awaited<ReturnType<typeof loadPeer>>>,
  framed: RgbImage,
): Promise<{ alpha: Uint8Array; ms: number }> {
  const key = createHash('sha1').update(framed.data).digest('hex').slice(0, 16);
  const file = path.join(CACHE, `${key}.png`);
  let png: Buffer, ms: number;
  if (existsSync(file)) {
    png = await readFile(file);
    ms = Number(await readFile(`${file}.ms`, 'utf8'));
  } else {
    const input = await sharp(framed.data, { raw: { width: framed.width, height: framed.height, channels: 3 } })
      .png()
      .toBuffer();
    const t = performance.now();
    const out = await peer.removeBackground(input, 'image/png');
    ms = performance.now() - t;
    png = await sharp(out).ensureAlpha().extractChannel(3).png().toBuffer();
    await mkdir(CACHE, { recursive: true });
    await writeFile(file, png);
    await writeFile(`${file}.ms`, String(ms));
  }
  const { data, info } = await sharp(png).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  if (info.width !== framed.width || info.height !== framed.height)
    throw new Error('peer: matte size differs from the frame');
  return { alpha: new Uint8Array(data.buffer, data.byteOffset, data.length), ms };
}

async function onGrey(m: Method, w: number, h: number): Promise<Buffer> {
  const out = composite(m.colours, m.alpha, solidImage(w, h, [128, 130, 134]));
  return sharp(out.data, { raw: { width: w, height: h, channels: 3 } })
    .resize(Math.round(w / 2))
    .png()
    .toBuffer();
}

async function main() {
  const args = process.argv.slice(2);
  const photos = args.length
    ? await Promise.all(args.map(async (f) => ({ name: path.basename(f, path.extname(f)), data: await readFile(f) })))
    : await Promise.all(BENCH_SET.map(async (c) => ({ name: c.file.replace(/\.jpg$/, ''), data: await readCrop(c) })));
  const peer = await loadPeer();
  const models = await loadRenderModels({ providers: config.ONNX_PROVIDERS, matting: { model: 'selfie' } });
  const analyser = await createAnalyser({
    providers: config.ONNX_PROVIDERS,
    presenceMin: config.FACE_PRESENCE_MIN,
    thresholds: thresholdsFrom(config),
  });
  const out = path.join('out', `matte-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  await mkdir(out, { recursive: true });
  console.log(
    `matte bench: ${photos.length} photos, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; peer ${peer ? `@imgly/background-removal-node@${peer.version} (medium)` : 'not installed'}`,
  );
  console.log(
    'photo                 time ms before/after/peer | IoU frame before/after | IoU band before/after | |da| band before/after | fringe before/after/peer',
  );
  const rows: number[][] = [];
  for (const photo of photos) {
    const stored = await normaliseUpload(photo.data, config.UPLOAD_MAX_PIXELS);
    const { geometry } = await analyser.analyse(await decodeRgb(stored.data));
    if (!geometry) {
      console.log(`${photo.name}: no face found, skipped`);
      continue;
    }
    const p = await prepare(models, stored.data, geometry, config.HEADSHOT_SIZE);
    const { framed, frame } = p;
    const w = frame.width,
      h = frame.height;
    // Both of Rasmi's mattes from the same segmentation (timed with it).
    let t = performance.now();
    const coarse = await models.segmenter.segment(framed);
    const segMs = performance.now() - t;
    t = performance.now();
    const before: Method = { alpha: refineMask(framed, coarse), colours: framed, ms: 0 };
    before.ms = segMs + performance.now() - t;
    t = performance.now();
    // Where the photo ends in the frame, as prepare() passes it (warp's coverage needs no pixels).
    const { coverage } = warp({ data: new Uint8Array(3), width: 1, height: 1 }, { x: 0, y: 0 }, 1, frame);
    const poses = await framePeople(models, stored.data, frame, await photoPeople(models, stored.data));
    const body = await models.body.mask(framed, subjectFace(frame, p.reference));
    const alpha = matte(framed, coarse, frame, p.reference, geometry.others, coverage, poses, body);
    const after: Method = { alpha, colours: { data: estimateForeground(framed, alpha), width: w, height: h }, ms: 0 };
    after.ms = segMs + performance.now() - t;
    const images = [
      await sharp(framed.data, { raw: { width: w, height: h, channels: 3 } })
        .resize(Math.round(w / 2))
        .png()
        .toBuffer(),
      await onGrey(before, w, h),
      await onGrey(after, w, h),
    ];
    let row: number[];
    const times = `${fmt(before.ms, 0)}/${fmt(after.ms, 0)}`;
    if (peer) {
      const pa = await peerAlpha(peer, framed);
      const ref: Method = { alpha: pa.alpha, colours: framed, ms: pa.ms };
      images.push(await onGrey(ref, w, h));
      const band = edgeBand(pa.alpha, w, h, Math.round(BAND * w));
      row = [
        iou(before.alpha, pa.alpha),
        iou(after.alpha, pa.alpha),
        iou(before.alpha, pa.alpha, band),
        iou(after.alpha, pa.alpha, band),
        meanAbs(before.alpha, pa.alpha, band),
        meanAbs(after.alpha, pa.alpha, band),
        fringe(before.alpha, before.colours),
        fringe(after.alpha, after.colours),
        fringe(ref.alpha, ref.colours),
      ];
      console.log(
        `${photo.name.padEnd(22)}${`${times}/${fmt(pa.ms, 0)}`.padStart(18)} | ${fmt(row[0], 3)} / ${fmt(row[1], 3)}  | ${fmt(row[2], 3)} / ${fmt(row[3], 3)}  | ${fmt(row[4], 1).padStart(5)} / ${fmt(row[5], 1).padStart(5)}  | ${fmt(row[6], 2)} / ${fmt(row[7], 2)} / ${fmt(row[8], 2)}`,
      );
    } else {
      row = [
        NaN,
        NaN,
        NaN,
        NaN,
        NaN,
        NaN,
        fringe(before.alpha, before.colours),
        fringe(after.alpha, after.colours),
        NaN,
      ];
      console.log(`${photo.name.padEnd(22)}${times.padStart(18)} | fringe ${fmt(row[6], 2)} / ${fmt(row[7], 2)}`);
    }
    rows.push(row);
    const tile = (await sharp(images[0]).metadata()).width;
    const sheet = await sharp({
      create: { width: tile * images.length, height: Math.round(h / 2), channels: 3, background: '#000' },
    })
      .composite(images.map((input, i) => ({ input, left: i * tile, top: 0 })))
      .png()
      .toBuffer();
    await writeFile(path.join(out, `${photo.name}.png`), sheet);
  }
  const mean = (k: number) => rows.reduce((s, r) => s + r[k], 0) / rows.length;
  console.log(
    `${'mean'.padEnd(40)} | ${fmt(mean(0), 3)} / ${fmt(mean(1), 3)}  | ${fmt(mean(2), 3)} / ${fmt(mean(3), 3)}  | ${fmt(mean(4), 1).padStart(5)} / ${fmt(mean(5), 1).padStart(5)}  | ${fmt(mean(6), 2)} / ${fmt(mean(7), 2)} / ${fmt(mean(8), 2)}`,
  );
  console.log(
    `sheets (frame | before | after | peer, on grey) in ${out}/; load average at end ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

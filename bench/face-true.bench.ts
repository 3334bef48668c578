/**
 * The face-true check on real photographs: its noise on unchanged renders and its reach on
 * deliberate geometric changes, today's measure (before: FaceMesh's five points found on the
 * render against the upload's, tolerance 0.045) beside the current one (after: each feature's
 * displacement by patch registration, tolerance FACE_TRUE_TOLERANCE), in the same run.
 *
 *   npm run bench:face-true                      # every crop (about 90 crops, 720 renders)
 *   FACE_TRUE_CROPS=12 npm run bench:face-true   # the first 12 crops, for a quick look
 *
 * Photos: the usable crops of the labelled real set (test/support/real-set.ts), and every face of
 * the party photos in REAL_PHOTOS (default: shared/fixtures/real beside the repository) cut here
 * at three framings and sizes, usable or not, so faces come out unscaled and enlarged x2 and x4 by
 * ESRGAN. Each is rendered in every style; figures are per upscale factor and per style.
 * Writes each render's figures to out/face-true-<time>.json as it goes.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { STYLES } from '../core/orders/catalog';
import { loadConfig } from '../core/platform/config';
import { decodeRgb, normaliseUpload } from '../core/photos/images';
import { createFaceDetector, type RgbImage } from '../models/face-detector';
import { warpFace, type FaceChange } from '../test/support/face-warp';
import { readCrop, REAL_SET } from '../test/support/real-set';
import { createAnalyser, thresholdsFrom } from '../worker/analysis';
import { faceTrue, interOcular, type FivePoints } from '../worker/face-true';
import { loadRenderModels } from '../worker/pixel-work';
import { fivePointsOnRender, prepare, stylePixels, type Prepared, type RenderModels } from '../worker/render';
import { fmt, median } from './util';

const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
const TOLERANCE = config.FACE_TRUE_TOLERANCE;
/** Today's measure and tolerance, for the side-by-side. */
const BEFORE_TOLERANCE = 0.045;
/** Today's measure runs two models a render: on changed renders it runs for every BEFORE_EVERY-th render only. */
const BEFORE_EVERY = 4;
const CHANGES: FaceChange[] = ['eye', 'nose'];
const AMOUNTS = [0.02, 0.03, 0.05];

interface Crop {
  name: string;
  data: Buffer;
  /** Where the intended face's centre is in the crop, to make sure analysis chose it (cut here from a group photo). */
  face?: { x: number; width: number };
  /** The label's verdict (the real set); else the analysis's. */
  usable?: boolean;
}

/** Framings of each face: crop size in face widths, headroom, and the face's width after resizing (or an enlargement). */
const FRAMINGS = [
  { name: 'loose', w: 3.2, h: 4, up: 1.0 },
  { name: 'phone', w: 3.0, h: 3.8, up: 1.0, faceTo: 115 },
  { name: 'enlarged', w: 3.0, h: 3.6, up: 1.0, enlarge: 1.75 },
];

function photosDir(): string {
  const candidates = [process.env.REAL_PHOTOS, '../shared/fixtures/real', '../../shared/fixtures/real'].filter(
    (d): d is string => !!d,
  );
  const dir = candidates.find((d) => existsSync(d));
  if (!dir) throw new Error(`no real photos: set REAL_PHOTOS (tried ${candidates.join(', ')})`);
  return dir;
}

/** Each face BlazeFace finds in each photo, cut at every framing, as a person would send it (JPEG, quality 90). */
async function cropsFromPhotos(): Promise<Crop[]> {
  const dir = photosDir();
  const detector = await createFaceDetector({ providers: config.ONNX_PROVIDERS, scoreThreshold: 0.5 });
  const crops: Crop[] = [];
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.jpg')).sort()) {
    const src = await readFile(path.join(dir, file));
    const full = await decodeRgb(src);
    for (const [i, face] of (await detector.detect(full)).entries()) {
      for (const fr of FRAMINGS) {
        const fw = face.box.width,
          cx = face.box.x + fw / 2;
        const left = Math.max(0, Math.round(cx - (fr.w * fw) / 2)),
          top = Math.max(0, Math.round(face.box.y - fr.up * fw));
        const width = Math.min(full.width - left, Math.round(fr.w * fw)),
          height = Math.min(full.height - top, Math.round(fr.h * fw));
        const k = fr.faceTo ? fr.faceTo / fw : (fr.enlarge ?? 1);
        let img = sharp(src).extract({ left, top, width, height });
        if (k !== 1)
          img = sharp(await img.png().toBuffer()).resize(Math.round(width * k), Math.round(height * k), {
            kernel: 'lanczos3',
          });
        crops.push({
          name: `${path.basename(file, '.jpg')}-face${i}-${fr.name}`,
          data: await img.jpeg({ quality: 90 }).toBuffer(),
          face: { x: (cx - left) * k, width: fw * k },
        });
      }
    }
  }
  return crops;
}

/** Today's measure: FaceMesh's five points found on the render, mapped back, against the upload's; largest distance over the IOD. */
async function todaysMeasure(models: RenderModels, p: Prepared, image: RgbImage): Promise<number> {
  const found = await fivePointsOnRender(models, image, p.frame);
  if (!found) return Infinity;
  const keys = Object.keys(p.reference) as (keyof FivePoints)[];
  return (
    Math.max(...keys.map((k) => Math.hypot(found[k].x - p.reference[k].x, found[k].y - p.reference[k].y))) /
    interOcular(p.reference)
  );
}

interface Row {
  crop: string;
  usable: boolean;
  upscaled: 0 | 2 | 4;
  style: string;
  before: number;
  after: number;
  worst: string;
  /** Each feature's measured displacement (after). */
  features: Record<string, number>;
  beforeMs: number;
  afterMs: number;
  changes: { change: FaceChange; amount: number; before: number; after: number }[];
}

const pct = (v: number[], q: number) => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((q / 100) * s.length) - 1))];
};
const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : 'none');

function distribution(label: string, rows: Row[]): string {
  const b = rows.map((r) => r.before),
    a = rows.map((r) => r.after);
  const failsB = b.filter((x) => !(x <= BEFORE_TOLERANCE)).length,
    failsA = a.filter((x) => !(x <= TOLERANCE)).length;
  return `  ${label.padEnd(22)} ${String(rows.length).padStart(4)} | ${f3(pct(b, 50))} ${f3(pct(b, 99))} ${f3(Math.max(...b))} ${String(failsB).padStart(4)} | ${f3(pct(a, 50))} ${f3(pct(a, 99))} ${f3(Math.max(...a))} ${String(failsA).padStart(4)}`;
}

async function main() {
  const models = await loadRenderModels({
    providers: config.ONNX_PROVIDERS,
    matting: { model: config.MATTING_MODEL, isnetPath: config.ISNET_MODEL_PATH },
  });
  const analyser = await createAnalyser({
    providers: config.ONNX_PROVIDERS,
    presenceMin: config.FACE_PRESENCE_MIN,
    thresholds: thresholdsFrom(config),
  });
  const usable = await Promise.all(
    REAL_SET.filter((c) => c.usable).map(async (c) => ({
      name: `set:${c.file.replace(/\.jpg$/, '')}`,
      data: await readCrop(c),
      usable: true,
    })),
  );
  let crops: Crop[] = [...usable, ...(await cropsFromPhotos())];
  if (process.env.FACE_TRUE_CROPS)
    crops = crops.filter((_, i) => i % Math.ceil(crops.length / Number(process.env.FACE_TRUE_CROPS)) === 0);
  const rows: Row[] = [];
  const upscalerDrift: { upscaled: number; error: number }[] = [];
  const referenceMs: number[] = [];
  let skipped = 0;
  const t0 = performance.now();
  await mkdir('out', { recursive: true });
  const file = path.join('out', `face-true-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  for (const crop of crops) {
    const stored = (await normaliseUpload(crop.data, config.UPLOAD_MAX_PIXELS)).data;
    const { verdict, geometry } = await analyser.analyse(await decodeRgb(stored));
    // The crop is meant for one face; a neighbour's face chosen instead is not this crop's subject.
    if (
      !geometry ||
      (crop.face && Math.abs(geometry.box.x + geometry.box.width / 2 - crop.face.x) > 0.3 * crop.face.width)
    ) {
      skipped++;
      continue;
    }
    const p = await prepare(models, stored, geometry, config.HEADSHOT_SIZE);
    referenceMs.push(p.timings.faceTrueReference);
    // The framed photo before any style: for an enlarged face, what ESRGAN alone moved.
    upscalerDrift.push({ upscaled: p.upscaled, error: faceTrue(p.truth, p.framed, TOLERANCE).error });
    for (const style of STYLES) {
      const image: RgbImage = {
        data: await stylePixels(models, p, style),
        width: p.frame.width,
        height: p.frame.height,
      };
      let t = performance.now();
      const before = await todaysMeasure(models, p, image);
      const beforeMs = performance.now() - t;
      t = performance.now();
      const after = faceTrue(p.truth, image, TOLERANCE);
      const afterMs = performance.now() - t;
      const changes: Row['changes'] = [];
      const withBefore = rows.length % BEFORE_EVERY === 0;
      for (const change of CHANGES) {
        for (const amount of AMOUNTS) {
          const warped = warpFace(image, p.truth.at, change, amount);
          changes.push({
            change,
            amount,
            before: withBefore ? await todaysMeasure(models, p, warped) : NaN,
            after: faceTrue(p.truth, warped, TOLERANCE).error,
          });
        }
      }
      rows.push({
        crop: crop.name,
        usable: crop.usable ?? verdict.usable,
        upscaled: p.upscaled,
        style: style.id,
        before,
        after: after.error,
        worst: after.worst,
        features: after.features,
        beforeMs,
        afterMs,
        changes,
      });
    }
    await writeFile(file, JSON.stringify(rows));
    const mine = rows.filter((r) => r.crop === crop.name);
    console.log(
      `${crop.name.padEnd(32)} x${p.upscaled} ${(crop.usable ?? verdict.usable) ? 'usable  ' : 'unusable'} before max ${f3(Math.max(...mine.map((r) => r.before)))}  after max ${f3(Math.max(...mine.map((r) => r.after)))} (${mine.reduce((a, b) => (b.after > a.after ? b : a)).worst})`,
    );
  }
  const minutes = (performance.now() - t0) / 60_000;

  console.log(
    `\n== Face-true on unchanged renders of real photos: ${rows.length} renders of ${rows.length / STYLES.length} crops (${skipped} crops skipped: no face, or another face chosen), ${fmt(minutes)} min`,
  );
  console.log(
    `   before: today's measure (five FaceMesh points, tolerance ${BEFORE_TOLERANCE}); after: feature displacement by patch registration (tolerance ${TOLERANCE})`,
  );
  console.log(
    `  ${''.padEnd(22)} ${'n'.padStart(4)} | before p50    p99    max  fail | after  p50    p99    max  fail`,
  );
  for (const up of [0, 2, 4] as const) {
    const sel = rows.filter((r) => r.upscaled === up);
    if (!sel.length) continue;
    console.log(distribution(up ? `upscaled x${up}` : 'not upscaled', sel));
  }
  console.log(distribution('all', rows));
  console.log(
    distribution(
      'usable photos only',
      rows.filter((r) => r.usable),
    ),
  );
  console.log(
    distribution(
      'the real set (usable)',
      rows.filter((r) => r.crop.startsWith('set:')),
    ),
  );
  console.log(
    distribution(
      'party crops (all faces)',
      rows.filter((r) => !r.crop.startsWith('set:')),
    ),
  );
  console.log('  per style:');
  for (const style of STYLES)
    console.log(
      distribution(
        `  ${style.id}`,
        rows.filter((r) => r.style === style.id),
      ),
    );
  console.log('  per style and upscale factor (after: max):');
  for (const style of STYLES)
    console.log(
      `    ${style.id.padEnd(22)} ${([0, 2, 4] as const)
        .map((up) => {
          const s = rows.filter((r) => r.style === style.id && r.upscaled === up);
          return `x${up}: ${s.length ? `${f3(Math.max(...s.map((r) => r.after)))} (${s.length})` : '-'}`;
        })
        .join('   ')}`,
    );
  for (const up of [2, 4]) {
    const d = upscalerDrift.filter((u) => u.upscaled === up).map((u) => u.error);
    if (d.length)
      console.log(
        `  ESRGAN x${up} alone (framed photo against the photo's own crop, ${d.length} photos): p50 ${f3(pct(d, 50))}, max ${f3(Math.max(...d))}`,
      );
  }

  console.log(
    `\n== Deliberate changes caught: a smooth warp moving one eye outward, or widening the nose, by a fraction of the IOD (after: all ${rows.length} renders; before: every ${BEFORE_EVERY}th, ${Math.ceil(rows.length / BEFORE_EVERY)})`,
  );
  console.log(`  ${'change'.padEnd(16)} | before caught  min measure | after caught  min measure`);
  const smallest: string[] = [];
  for (const change of CHANGES) {
    // From the largest size down: the smallest size caught in every render, with every larger one.
    const least = { before: Infinity, after: Infinity },
      missed = { before: false, after: false };
    for (const amount of [...AMOUNTS].reverse()) {
      const c = rows.map((r) => r.changes.find((x) => x.change === change && x.amount === amount)!);
      const b = c.filter((x) => !Number.isNaN(x.before));
      const caughtB = b.filter((x) => !(x.before <= BEFORE_TOLERANCE)).length,
        caughtA = c.filter((x) => !(x.after <= TOLERANCE)).length;
      if (caughtB < b.length) missed.before = true;
      else if (!missed.before) least.before = amount;
      if (caughtA < c.length) missed.after = true;
      else if (!missed.after) least.after = amount;
      console.log(
        `  ${`${change} ${amount * 100} %`.padEnd(16)} | ${`${((100 * caughtB) / b.length).toFixed(1)} %`.padStart(12)} ${f3(Math.min(...b.map((x) => x.before))).padStart(12)} | ${`${((100 * caughtA) / c.length).toFixed(1)} %`.padStart(12)} ${f3(Math.min(...c.map((x) => x.after))).padStart(12)}`,
      );
    }
    const word = (a: number) => (Number.isFinite(a) ? `${a * 100} %` : 'none');
    smallest.push(`${change}: before ${word(least.before)}, after ${word(least.after)}`);
  }
  console.log(`  smallest change caught in every render (of the sizes tried): ${smallest.join('; ')}`);
  console.log(
    `\n== Cost of the check per render (median): before ${fmt(median(rows.map((r) => r.beforeMs)))} ms (BlazeFace + FaceMesh on the render), after ${fmt(median(rows.map((r) => r.afterMs)))} ms; after's reference, once per photo in prepare: ${fmt(median(referenceMs))} ms (FaceMesh on the framed photo)`,
  );
  console.log(`each render's figures: ${file}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

/**
 * Face detection figures: time per photo for the whole-photo pass alone (the detector before small
 * faces were looked for) and with the tile pass, on one core; then each selfie fixture with the
 * reason its verdict gives and the measurement behind it.
 *   npm run bench:detection
 */
import sharp from 'sharp';
import { decodeRgb, normaliseUpload } from '../core/photos/images';
import { loadConfig } from '../core/platform/config';
import { createFaceDetector, type RgbImage } from '../models/face-detector';
import { createAnalyser, thresholdsFrom } from '../worker/analysis';
import { SELFIE_FIXTURES } from '../test/support/selfie-fixtures';
import { fmt, median } from './util';

const RUNS = 9;

async function photoWithFace(width: number, height: number, faceFraction: number): Promise<RgbImage> {
  const size = Math.round((512 * faceFraction * Math.min(width, height)) / 106);
  const person = await sharp('test/fixtures/astronaut.png').resize(size, size).png().toBuffer();
  const jpeg = await sharp('test/fixtures/coffee.png')
    .resize(width, height)
    .blur(3)
    .composite([{ input: person, left: Math.round(width / 2 - size / 2), top: Math.round(height / 2 - size / 2) }])
    .jpeg({ quality: 90 })
    .toBuffer();
  return decodeRgb(jpeg);
}

async function main() {
  const before = await createFaceDetector({ providers: ['cpu'], scoreThreshold: 0.3, smallFaces: false });
  const after = await createFaceDetector({ providers: ['cpu'], scoreThreshold: 0.3 });
  const photos: [string, RgbImage][] = [
    ['512-px astronaut', await decodeRgb(await sharp('test/fixtures/astronaut.png').png().toBuffer())],
    ['12 MP, face 15 % of the shorter side', await photoWithFace(4000, 3000, 0.15)],
    ['12 MP, face 3 % of the shorter side', await photoWithFace(4000, 3000, 0.03)],
    ['1328x928, face 3 % (about 28 px)', await photoWithFace(1328, 928, 0.03)],
  ];
  console.log(`detection (npm run bench:detection pins the process to one core), median of ${RUNS}:`);
  for (const [label, image] of photos) {
    const row: string[] = [];
    for (const [name, d] of [
      ['whole-photo pass', before],
      ['with tile pass', after],
    ] as const) {
      await d.detect(image);
      const ms: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const t = performance.now();
        await d.detect(image);
        ms.push(performance.now() - t);
      }
      const faces = (await d.detect(image)).filter((f) => f.score >= 0.6);
      row.push(
        `${name} ${fmt(median(ms))} ms (${faces.length ? `best face ${Math.round(faces[0].box.width)} px, score ${fmt(faces[0].score, 2)}` : 'no face at 0.6'})`,
      );
    }
    console.log(`  ${label.padEnd(38)} ${row.join(' | ')}`);
  }

  const config = loadConfig({});
  const analyser = await createAnalyser({
    providers: ['cpu'],
    presenceMin: config.FACE_PRESENCE_MIN,
    thresholds: thresholdsFrom(config),
  });
  console.log('\nselfie fixtures: reason given, measurement behind it');
  let smallest = Infinity;
  for (const f of SELFIE_FIXTURES) {
    const stored = await normaliseUpload(await f.make(), config.UPLOAD_MAX_PIXELS);
    const { verdict } = await analyser.analyse(await decodeRgb(stored.data));
    if (verdict.boxes?.length && f.expect?.code !== 'no_face')
      smallest = Math.min(smallest, ...verdict.boxes.map((b) => b.width));
    const reasons =
      verdict.reasons
        .map(
          (r) =>
            `${r.code}${r.side ? ` (${r.side})` : ''}${r.angle ? ` (${r.angle}°)` : ''}${r.measured !== undefined ? ` ${r.measured} vs ${r.required}` : ''}`,
        )
        .join(', ') || 'usable';
    const box = verdict.boxes?.[0]
      ? `face ${verdict.boxes[0].width} px at score ${verdict.boxes[0].score}`
      : 'no face box';
    console.log(`  ${f.name.padEnd(44)} ${stored.width}x${stored.height}  ${reasons.padEnd(34)} ${box}`);
  }
  console.log(`smallest face found on the fixtures: ${smallest} px wide`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

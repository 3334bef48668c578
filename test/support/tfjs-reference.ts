/**
 * Reference interpreter for TF.js graph models, used only by tests and scripts/make-goldens.ts.
 *
 * It evaluates the graph directly in TF's NHWC layout with float64 arithmetic and plain loops,
 * following TF/TF.js semantics op by op (SAME padding with the extra pixel at the bottom/right,
 * TF.js ResizeBilinear source-coordinate rules, Conv2DBackpropInput as the gradient of a
 * convolution). It shares only weight decoding and attribute parsing with models/convert-tfjs.ts,
 * so it is an independent check of the ONNX graphs the converter writes. Slow on purpose.
 */
import {
  attrBool,
  attrFloat,
  attrInt,
  attrInts,
  attrString,
  attrStrings,
  parseInputRef,
  topoSort,
  type TfNode,
  type TfjsGraph,
} from '../../models/convert-tfjs';

export interface RefTensor {
  shape: number[];
  data: Float64Array;
}

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** A weight (or any float array with a shape) as a float64 reference tensor. */
export const refTensor = (t: { shape: number[]; data: ArrayLike<number> }): RefTensor => ({
  shape: t.shape.slice(),
  data: Float64Array.from(t.data),
});

export const map = (x: RefTensor, f: (v: number) => number): RefTensor => ({
  shape: x.shape.slice(),
  data: x.data.map(f),
});

/** Elementwise activations both interpreters implement, by their lower-case (Keras) name. */
export const ACTIVATIONS: Readonly<Record<string, (v: number) => number>> = {
  relu: (v) => Math.max(0, v),
  relu6: (v) => Math.min(6, Math.max(0, v)),
  sigmoid: (v) => 1 / (1 + Math.exp(-v)),
  tanh: Math.tanh,
  elu: (v) => (v >= 0 ? v : Math.exp(v) - 1),
};

/** One spatial axis of a TF window op with `padding` 'SAME', 'VALID' or 'EXPLICIT': [padBefore, outSize]. */
function sameOrValid(
  padding: string,
  inSize: number,
  k: number,
  s: number,
  d: number,
  explicit?: number[],
): [number, number] {
  const ek = (k - 1) * d + 1;
  if (padding === 'VALID') return [0, Math.floor((inSize - ek) / s) + 1];
  if (padding === 'SAME') {
    const out = Math.ceil(inSize / s);
    const need = Math.max(0, (out - 1) * s + ek - inSize);
    return [need >> 1, out];
  }
  if (padding === 'EXPLICIT' && explicit)
    return [explicit[0], Math.floor((inSize + explicit[0] + explicit[1] - ek) / s) + 1];
  throw new Error(`reference: padding ${padding}`);
}

function hw(node: TfNode, key: string): [number, number] {
  const v = attrInts(node, key);
  return v && v.length === 4 ? [v[1], v[2]] : [1, 1];
}

export interface ConvSpec {
  strides: [number, number];
  dilations: [number, number];
  /** 'SAME' (odd pixel at the bottom/right), 'VALID' or 'EXPLICIT'. */
  padding: string;
  /** TF `explicit_paddings` (8 values, NHWC pairs) for 'EXPLICIT'. */
  explicit?: number[];
  /** `w` is [KH, KW, C, M] and output channel c*M + m reads input channel c only. */
  depthwise?: boolean;
}

/** NHWC convolution (TF semantics) of `x` with an HWIO filter `w`; groups are C / I. No bias. */
export function conv2dNhwc(x: RefTensor, w: RefTensor, spec: ConvSpec): RefTensor {
  const [N, H, W, C] = x.shape;
  const [KH, KW, WI, WO] = w.shape;
  const [sh, sw] = spec.strides;
  const [dh, dw] = spec.dilations;
  const [pt, OH] = sameOrValid(spec.padding, H, KH, sh, dh, spec.explicit?.slice(2, 4));
  const [pl, OW] = sameOrValid(spec.padding, W, KW, sw, dw, spec.explicit?.slice(4, 6));
  const OC = spec.depthwise ? C * WO : WO;
  const groups = C / WI;
  const perGroup = WO / groups;
  const out = new Float64Array(N * OH * OW * OC);
  const xd = x.data;
  const wd = w.data;
  for (let n = 0; n < N; n++)
    for (let oy = 0; oy < OH; oy++)
      for (let ox = 0; ox < OW; ox++) {
        const o = ((n * OH + oy) * OW + ox) * OC;
        for (let ky = 0; ky < KH; ky++) {
          const iy = oy * sh - pt + ky * dh;
          if (iy < 0 || iy >= H) continue;
          for (let kx = 0; kx < KW; kx++) {
            const ix = ox * sw - pl + kx * dw;
            if (ix < 0 || ix >= W) continue;
            const xi = ((n * H + iy) * W + ix) * C;
            const wk = (ky * KW + kx) * WI * WO;
            if (spec.depthwise) {
              for (let c = 0; c < C; c++) {
                const xv = xd[xi + c];
                for (let m = 0; m < WO; m++) out[o + c * WO + m] += xv * wd[wk + c * WO + m];
              }
              continue;
            }
            for (let g = 0; g < groups; g++)
              for (let ic = 0; ic < WI; ic++) {
                const xv = xd[xi + g * WI + ic];
                if (xv === 0) continue;
                const wi = wk + ic * WO;
                for (let oc = g * perGroup; oc < (g + 1) * perGroup; oc++) out[o + oc] += xv * wd[wi + oc];
              }
          }
        }
      }
  return { shape: [N, OH, OW, OC], data: out };
}

function conv2d(x: RefTensor, w: RefTensor, node: TfNode, depthwise: boolean): RefTensor {
  return conv2dNhwc(x, w, {
    strides: hw(node, 'strides'),
    dilations: hw(node, 'dilations'),
    padding: attrString(node, 'padding') ?? 'VALID',
    explicit: attrInts(node, 'explicit_paddings'),
    depthwise,
  });
}

function conv2dBackpropInput(sizes: number[], w: RefTensor, x: RefTensor, node: TfNode): RefTensor {
  // Gradient of conv2d w.r.t. its input: scatter every input pixel through the filter.
  const [N, OH, OW, OC] = sizes;
  const [KH, KW, WO, WI] = w.shape; // [kh, kw, out channels (result), in channels (x)]
  const [, H, W, C] = x.shape;
  if (WO !== OC || WI !== C) throw new Error('reference: Conv2DBackpropInput channel mismatch');
  const [sh, sw] = hw(node, 'strides');
  const [dh, dw] = hw(node, 'dilations');
  const padding = attrString(node, 'padding') ?? 'VALID';
  const ex = attrInts(node, 'explicit_paddings');
  const [pt, fh] = sameOrValid(padding, OH, KH, sh, dh, ex?.slice(2, 4));
  const [pl, fw] = sameOrValid(padding, OW, KW, sw, dw, ex?.slice(4, 6));
  if (fh !== H || fw !== W) throw new Error('reference: Conv2DBackpropInput size mismatch');
  const out = new Float64Array(N * OH * OW * OC);
  for (let n = 0; n < N; n++) {
    for (let iy = 0; iy < H; iy++) {
      for (let ix = 0; ix < W; ix++) {
        for (let ky = 0; ky < KH; ky++) {
          const oy = iy * sh - pt + ky * dh;
          if (oy < 0 || oy >= OH) continue;
          for (let kx = 0; kx < KW; kx++) {
            const ox = ix * sw - pl + kx * dw;
            if (ox < 0 || ox >= OW) continue;
            for (let oc = 0; oc < OC; oc++) {
              let acc = 0;
              for (let c = 0; c < C; c++)
                acc += x.data[((n * H + iy) * W + ix) * C + c] * w.data[((ky * KW + kx) * WO + oc) * WI + c];
              out[((n * OH + oy) * OW + ox) * OC + oc] += acc;
            }
          }
        }
      }
    }
  }
  return { shape: [N, OH, OW, OC], data: out };
}

function pool(x: RefTensor, node: TfNode, max: boolean): RefTensor {
  const [N, H, W, C] = x.shape;
  const [KH, KW] = hw(node, 'ksize');
  const [sh, sw] = hw(node, 'strides');
  const padding = attrString(node, 'padding') ?? 'VALID';
  const [pt, OH] = sameOrValid(padding, H, KH, sh, 1);
  const [pl, OW] = sameOrValid(padding, W, KW, sw, 1);
  const out = new Float64Array(N * OH * OW * C);
  for (let n = 0; n < N; n++)
    for (let oy = 0; oy < OH; oy++)
      for (let ox = 0; ox < OW; ox++)
        for (let c = 0; c < C; c++) {
          let acc = max ? -Infinity : 0;
          let count = 0;
          for (let ky = 0; ky < KH; ky++) {
            const iy = oy * sh - pt + ky;
            if (iy < 0 || iy >= H) continue;
            for (let kx = 0; kx < KW; kx++) {
              const ix = ox * sw - pl + kx;
              if (ix < 0 || ix >= W) continue;
              const v = x.data[((n * H + iy) * W + ix) * C + c];
              acc = max ? Math.max(acc, v) : acc + v;
              count++;
            }
          }
          out[((n * OH + oy) * OW + ox) * C + c] = max ? acc : acc / count;
        }
  return { shape: [N, OH, OW, C], data: out };
}

function broadcast(inputs: RefTensor[], f: (values: number[]) => number): RefTensor {
  const rank = Math.max(...inputs.map((t) => t.shape.length));
  const shapes = inputs.map((t) => [...new Array<number>(rank - t.shape.length).fill(1), ...t.shape]);
  const shape = [...new Array(rank).keys()].map((i) => Math.max(...shapes.map((s) => s[i])));
  for (const s of shapes)
    s.forEach((d, i) => {
      if (d !== 1 && d !== shape[i]) throw new Error(`reference: cannot broadcast [${s}] to [${shape}]`);
    });
  const strides = shapes.map((s) => {
    const st = new Array<number>(rank);
    let acc = 1;
    for (let i = rank - 1; i >= 0; i--) {
      st[i] = s[i] === 1 ? 0 : acc;
      acc *= s[i];
    }
    return st;
  });
  const total = size(shape);
  const out = new Float64Array(total);
  const idx = new Array<number>(rank).fill(0);
  const vals = new Array<number>(inputs.length);
  for (let o = 0; o < total; o++) {
    for (let k = 0; k < inputs.length; k++) {
      let p = 0;
      for (let i = 0; i < rank; i++) p += idx[i] * strides[k][i];
      vals[k] = inputs[k].data[p];
    }
    out[o] = f(vals);
    for (let i = rank - 1; i >= 0; i--) {
      if (++idx[i] < shape[i]) break;
      idx[i] = 0;
    }
  }
  return { shape, data: out };
}

function activate(kind: string, x: RefTensor, node: TfNode, alpha?: RefTensor): RefTensor {
  switch (kind) {
    case 'Relu':
    case 'Relu6':
    case 'Sigmoid':
    case 'Tanh':
    case 'Elu':
      return map(x, ACTIVATIONS[kind.toLowerCase()]);
    case 'LeakyRelu': {
      const a = attrFloat(node, node.op === 'LeakyRelu' ? 'alpha' : 'leakyrelu_alpha', 0.2);
      return map(x, (v) => (v >= 0 ? v : a * v));
    }
    case 'Prelu':
      return broadcast([x, alpha!], ([v, a]) => (v >= 0 ? v : a * v));
    default:
      throw new Error(`reference: activation ${kind}`);
  }
}

function pad(x: RefTensor, paddings: number[], value: number): RefTensor {
  const rank = x.shape.length;
  const shape = x.shape.map((d, i) => d + paddings[2 * i] + paddings[2 * i + 1]);
  const out = new Float64Array(size(shape)).fill(value);
  const idx = new Array<number>(rank).fill(0);
  for (let s = 0; s < x.data.length; s++) {
    let o = 0;
    for (let i = 0; i < rank; i++) o = o * shape[i] + idx[i] + paddings[2 * i];
    out[o] = x.data[s];
    for (let i = rank - 1; i >= 0; i--) {
      if (++idx[i] < x.shape[i]) break;
      idx[i] = 0;
    }
  }
  return { shape, data: out };
}

function resizeBilinear(
  x: RefTensor,
  newH: number,
  newW: number,
  alignCorners: boolean,
  halfPixel: boolean,
): RefTensor {
  // As tfjs-backend-cpu's ResizeBilinear kernel.
  const [N, H, W, C] = x.shape;
  const ry = alignCorners && newH > 1 ? (H - 1) / (newH - 1) : H / newH;
  const rx = alignCorners && newW > 1 ? (W - 1) / (newW - 1) : W / newW;
  const out = new Float64Array(N * newH * newW * C);
  for (let n = 0; n < N; n++)
    for (let r = 0; r < newH; r++) {
      const fy = halfPixel ? ry * (r + 0.5) - 0.5 : ry * r;
      const y0 = Math.max(0, Math.floor(fy));
      const dy = fy - y0;
      const y1 = Math.min(H - 1, Math.ceil(fy));
      for (let c0 = 0; c0 < newW; c0++) {
        const fx = halfPixel ? rx * (c0 + 0.5) - 0.5 : rx * c0;
        const x0 = Math.max(0, Math.floor(fx));
        const dx = fx - x0;
        const x1 = Math.min(W - 1, Math.ceil(fx));
        for (let c = 0; c < C; c++) {
          const at = (yy: number, xx: number) => x.data[((n * H + yy) * W + xx) * C + c];
          const top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * dx;
          const bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * dx;
          out[((n * newH + r) * newW + c0) * C + c] = top + (bottom - top) * dy;
        }
      }
    }
  return { shape: [N, newH, newW, C], data: out };
}

/** Evaluates `graph` on `inputs` (keyed by input tensor name, e.g. `input_1:0`); returns every graph output by name. */
export function runReference(graph: TfjsGraph, inputs: Record<string, RefTensor>): Record<string, RefTensor> {
  const values = new Map<string, RefTensor>();
  for (const spec of graph.inputs) {
    const t = inputs[spec.name];
    if (t) values.set(spec.node, t);
  }
  const get = (node: TfNode, i: number): RefTensor => {
    const refs = (node.input ?? []).map(parseInputRef).filter((r) => r !== null);
    const v = values.get(refs[i].node);
    if (!v) throw new Error(`reference: '${node.name}' input ${i} (${refs[i].node}) missing`);
    return v;
  };
  for (const node of topoSort(graph)) {
    let y: RefTensor;
    switch (node.op) {
      case 'Placeholder':
        if (!values.has(node.name)) throw new Error(`reference: no value for input '${node.name}'`);
        continue;
      case 'Const': {
        y = refTensor(graph.weights.get(node.name)!);
        break;
      }
      case 'Identity':
        y = get(node, 0);
        break;
      case 'Conv2D':
      case 'DepthwiseConv2dNative':
        y = conv2d(get(node, 0), get(node, 1), node, node.op !== 'Conv2D');
        break;
      case '_FusedConv2D':
      case 'FusedDepthwiseConv2dNative': {
        const fused = attrStrings(node, 'fused_ops');
        y = conv2d(get(node, 0), get(node, 1), node, node.op !== '_FusedConv2D');
        y = broadcast([y, get(node, 2)], ([a, b]) => a + b);
        if (fused[1]) y = activate(fused[1], y, node, fused[1] === 'Prelu' ? get(node, 3) : undefined);
        break;
      }
      case 'Conv2DBackpropInput':
        y = conv2dBackpropInput([...get(node, 0).data], get(node, 1), get(node, 2), node);
        break;
      case 'MaxPool':
      case 'AvgPool':
        y = pool(get(node, 0), node, node.op === 'MaxPool');
        break;
      case 'Add':
      case 'AddV2':
      case 'BiasAdd':
        y = broadcast([get(node, 0), get(node, 1)], ([a, b]) => a + b);
        break;
      case 'Sub':
        y = broadcast([get(node, 0), get(node, 1)], ([a, b]) => a - b);
        break;
      case 'Mul':
        y = broadcast([get(node, 0), get(node, 1)], ([a, b]) => a * b);
        break;
      case 'RealDiv':
        y = broadcast([get(node, 0), get(node, 1)], ([a, b]) => a / b);
        break;
      case 'Maximum':
        y = broadcast([get(node, 0), get(node, 1)], ([a, b]) => Math.max(a, b));
        break;
      case 'Minimum':
        y = broadcast([get(node, 0), get(node, 1)], ([a, b]) => Math.min(a, b));
        break;
      case 'AddN': {
        const n = (node.input ?? []).filter((r) => !r.startsWith('^')).length;
        y = broadcast(
          [...new Array(n).keys()].map((i) => get(node, i)),
          (v) => v.reduce((a, b) => a + b, 0),
        );
        break;
      }
      case 'Relu':
      case 'Relu6':
      case 'Sigmoid':
      case 'Tanh':
      case 'Elu':
      case 'LeakyRelu':
        y = activate(node.op, get(node, 0), node);
        break;
      case 'Prelu':
        y = activate('Prelu', get(node, 0), node, get(node, 1));
        break;
      case 'Pad':
      case 'PadV2':
        y = pad(get(node, 0), [...get(node, 1).data], node.op === 'PadV2' ? get(node, 2).data[0] : 0);
        break;
      case 'Reshape': {
        const x = get(node, 0);
        const target = [...get(node, 1).data];
        const known = size(target.filter((d) => d !== -1));
        y = { shape: target.map((d) => (d === -1 ? x.data.length / known : d)), data: x.data };
        break;
      }
      case 'ConcatV2': {
        const n = (node.input ?? []).filter((r) => !r.startsWith('^')).length - 1;
        const xs = [...new Array(n).keys()].map((i) => get(node, i));
        const rank = xs[0].shape.length;
        const axis = (get(node, n).data[0] + rank) % rank;
        // Row-major: each of the `outer` blocks is the inputs' blocks along `axis` one after another.
        const outer = size(xs[0].shape.slice(0, axis));
        const blocks = xs.map((x) => size(x.shape.slice(axis)));
        const data = new Float64Array(outer * blocks.reduce((a, b) => a + b, 0));
        let o = 0;
        for (let i = 0; i < outer; i++) {
          xs.forEach((x, k) => {
            data.set(x.data.subarray(i * blocks[k], (i + 1) * blocks[k]), o);
            o += blocks[k];
          });
        }
        const shape = xs[0].shape.slice();
        shape[axis] = xs.reduce((sum, x) => sum + x.shape[axis], 0);
        y = { shape, data };
        break;
      }
      case 'ResizeBilinear': {
        const [h, w] = get(node, 1).data;
        y = resizeBilinear(
          get(node, 0),
          h,
          w,
          attrBool(node, 'align_corners', false),
          attrBool(node, 'half_pixel_centers', false),
        );
        break;
      }
      case 'Shape':
        y = { shape: [get(node, 0).shape.length], data: Float64Array.from(get(node, 0).shape) };
        break;
      case 'StridedSlice': {
        // A forward slice of a rank-1 tensor (a shape), as the converter folds it.
        const [x, b, e, st] = [0, 1, 2, 3].map((i) => get(node, i));
        const n = x.data.length;
        const clamp = (v: number) => Math.max(0, Math.min(n, v < 0 ? v + n : v));
        const from = attrInt(node, 'begin_mask', 0) & 1 ? 0 : clamp(b.data[0]);
        const to = attrInt(node, 'end_mask', 0) & 1 ? n : clamp(e.data[0]);
        const data = x.data.filter((_, i) => i >= from && i < to && (i - from) % st.data[0] === 0);
        y = { shape: [data.length], data };
        break;
      }
      default:
        throw new Error(`reference: unsupported op ${node.op}`);
    }
    values.set(node.name, y);
  }
  const result: Record<string, RefTensor> = {};
  for (const o of graph.outputs) result[o.name] = values.get(o.node)!;
  return result;
}

// ---------------------------------------------------------------------------------------------
// Fixed golden inputs (built with plain arithmetic from a PNG decode, so no resampler version
// can change them)
// ---------------------------------------------------------------------------------------------

/** Decodes a PNG to packed RGB bytes. PNG decoding is lossless, so the bytes are stable across sharp versions. */
export async function decodeRgb(file: string): Promise<{ data: Buffer; width: number; height: number }> {
  const { default: sharp } = await import('sharp');
  const { data, info } = await sharp(file)
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected 3 channels, got ${info.channels}`);
  return { data, width: info.width, height: info.height };
}

/** Square crop (left, top, side in pixels) of astronaut.png around the BlazeFace box (x=172.6 y=73.7 w=h=104.6) enlarged 1.6x. */
export const FACEMESH_GOLDEN_CROP = { left: 141, top: 42, side: 168 } as const;

/**
 * FaceMesh golden input: the astronaut face crop resampled to 192x192 with bilinear interpolation
 * (pixel centres aligned), RGB scaled to [0,1], NHWC float32.
 */
export function facemeshGoldenInput(img: { data: Uint8Array; width: number; height: number }): Float32Array {
  const { left, top, side } = FACEMESH_GOLDEN_CROP;
  const S = 192;
  const out = new Float32Array(S * S * 3);
  const scale = side / S;
  const px = (x: number, y: number, c: number) => {
    const cx = Math.min(img.width - 1, Math.max(0, x));
    const cy = Math.min(img.height - 1, Math.max(0, y));
    return img.data[(cy * img.width + cx) * 3 + c];
  };
  for (let v = 0; v < S; v++) {
    const sy = top + (v + 0.5) * scale - 0.5;
    const y0 = Math.floor(sy);
    const fy = sy - y0;
    for (let u = 0; u < S; u++) {
      const sx = left + (u + 0.5) * scale - 0.5;
      const x0 = Math.floor(sx);
      const fx = sx - x0;
      for (let c = 0; c < 3; c++) {
        const a = px(x0, y0, c) * (1 - fx) + px(x0 + 1, y0, c) * fx;
        const b = px(x0, y0 + 1, c) * (1 - fx) + px(x0 + 1, y0 + 1, c) * fx;
        out[(v * S + u) * 3 + c] = (a * (1 - fy) + b * fy) / 255;
      }
    }
  }
  return out;
}

/** Selfie golden input: astronaut.png (512x512) averaged over 2x2 blocks to 256x256, RGB in [0,1], NHWC float32. */
export function selfieGoldenInput(img: { data: Uint8Array; width: number; height: number }): Float32Array {
  if (img.width !== 512 || img.height !== 512) throw new Error('selfie golden input expects the 512x512 astronaut');
  const S = 256;
  const out = new Float32Array(S * S * 3);
  for (let y = 0; y < S; y++)
    for (let x = 0; x < S; x++)
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let dy = 0; dy < 2; dy++)
          for (let dx = 0; dx < 2; dx++) acc += img.data[((2 * y + dy) * 512 + 2 * x + dx) * 3 + c];
        out[(y * S + x) * 3 + c] = acc / 4 / 255;
      }
  return out;
}

/** Selfie mask positions kept in the golden file: every 8th row and column, starting at 4 (a 32x32 grid). */
export const SELFIE_GOLDEN_STEP = 8;
export function selfieGoldenSamples(mask: ArrayLike<number>, size = 256): number[] {
  const out: number[] = [];
  for (let y = SELFIE_GOLDEN_STEP / 2; y < size; y += SELFIE_GOLDEN_STEP)
    for (let x = SELFIE_GOLDEN_STEP / 2; x < size; x += SELFIE_GOLDEN_STEP) out.push(mask[y * size + x]);
  return out;
}

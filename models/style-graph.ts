/**
 * A style's "look" as an ONNX graph built from code.
 *
 * The graph only re-weights the pixels that are already there (edge-preserving smoothing inside the
 * skin mask, a soft light, a colour grade, a vignette): nothing is generated, so the face stays the
 * person's face. The same bytes run on the CPU here and with the CUDA provider on GPU nodes.
 *
 * Inputs (H and W are dynamic):
 *   image  float32 [1,3,H,W]  sRGB, 0..1
 *   skin   float32 [1,1,H,W]  0..1, where smoothing may apply (the face/skin region). Where skin = 0
 *                             the smoothing step returns the input pixel bit for bit.
 *   light  float32 [4]        [cx, cy, radius, aspect]:
 *                             cx, cy   face centre as a fraction of W and H (pixel-centre convention:
 *                                      pixel j's centre is at (j + 0.5) / W);
 *                             radius   the key light's Gaussian sigma as a fraction of min(H, W)
 *                                      (values below 1e-3 are raised to 1e-3);
 *                             aspect   vertical / horizontal extent of the light ellipse (a face is
 *                                      taller than wide, ~1.3); <= 0 means 1 (circular).
 *   grade  float32 [3,4]      the look's colour grade, one row [w_R, w_G, w_B, bias] per output
 *                             channel (gradeMatrix; monochrome is three identical luma rows).
 *   params float32 [3]        [keyLight, skinSmoothing, vignette] (the look's strengths).
 *   styleInputs(look) computes grade and params; one graph (and one session) serves every look.
 * Output:
 *   output float32 [1,3,H,W]  clamped to 0..1.
 *
 * Maths, in order (x = image, all in sRGB values; see test/support/style-reference.ts for the same
 * thing written as plain loops):
 *
 * 1. Skin smoothing: a self-guided filter (He et al.), computed at 1/4 resolution ("fast guided
 *    filter") so that the full-resolution cost is a few elementwise passes:
 *      P  = AveragePool 4x4 stride 4 of x (floor(H/4) x floor(W/4); a trailing partial block is
 *           left out, so H and W must be at least 4)
 *      mP = box5(P), mPP = box5(P*P)            box5 = 5x5 mean, borders average what they cover
 *      r  = eps / (max(mPP - mP^2, 0) + eps)    1 - r is the guided filter's `a`, mP*r its `b`
 *      A  = resize(-s * box5(r)), B = resize(s * box5(mP * r))   (s = skinSmoothing)   bilinear, half-pixel, to H x W
 *           (scale H / floor(H/4), coordinates clamped to the low-resolution grid)
 *      x1 = x + skin * (A * x + B)
 *    which is x1 = x + skin * s * (guided(x) - x). The window is 20x20 px at full resolution and
 *    the coefficients are averaged over another 20x20, fixed in pixels and tuned for the 1024 px
 *    renders (effective radius ~0.6-1 % of the frame there). eps = 0.04^2: texture whose local
 *    standard deviation is well below 0.04 (pores, blemishes) is flattened, edges with a larger
 *    step (eyes, brows, lips, nostrils, the face outline) are kept. Fine texture below the 4 px
 *    block size does not count as "edge" (P is a block mean), which is what skin smoothing wants.
 * 2. Key light: x2 = x1 * (1 + keyLight * exp(-d^2 / (2 radius^2))), with
 *      d^2 = ((j + .5 - cx W) / S)^2 + ((i + .5 - cy H) / (S aspect))^2,  S = min(H, W);
 *    the Gaussian is separable, so it is an outer product of a row and a column vector built with
 *    Shape/Range, and H, W stay dynamic.
 * 3. Grade, one matrix product (Gemm) with the `grade` input: x3 = Sat (diag(m) x2 + o), with
 *      m = exposure * contrast * [1 + warmth, 1, 1 - warmth],
 *      o = 0.5 (1 - contrast)                   (linear contrast around mid-grey),
 *      Sat = s I + (1 - s) 1 luma^T             (saturation as a mix with Rec. 709 luma).
 *    Monochrome: every output channel is luma^T (diag(m) x2 + o): three identical rows, and the
 *    Gemm computes identical rows identically, so R = G = B exactly. Like the key light, the grade works on
 *    the sRGB values directly; highlights pushed past 1 are clipped in step 5.
 * 4. Vignette: x4 = x3 * (1 - vignette * rho^4), rho^2 = 2 ((u - .5)^2 + (v - .5)^2), u = (j + .5)/W,
 *    v = (i + .5)/H: 0 in the centre, 1 in the corners, ~0.25 vignette at the middle of an edge.
 * 5. output = Clip(x4, 0, 1).
 *
 * Every step is always in the graph. A neutral strength leaves the pixels exactly as they are:
 * skinSmoothing 0 adds skin * 0, keyLight 0 multiplies by 1 + 0, vignette 0 by 1 - 0, and an
 * identity grade (exposure, contrast, saturation 1, warmth 0) is an exact identity Gemm.
 *
 * The bytes do not depend on the look: one build per STYLE_GRAPH_VERSION.
 */
import * as ort from 'onnxruntime-node';
import type { Style } from '../core/orders/catalog';
import { attr, DT, floatValueInfo, GraphBuilder, type AttributeProto } from './onnx-builder';
import { observeInference } from '../core/platform/metrics';
import { createSession, loadOnce, NO_SPINNING, type LoadedSession, type ModelLogger } from './session';

/** Bump when the graph changes for the same look. */
export const STYLE_GRAPH_VERSION = '2';

export interface Look {
  /** Multiplier on every channel; 1 = none. */
  exposure: number;
  /** Linear around mid-grey (0.5); 1 = none. */
  contrast: number;
  /** 0 = grey, 1 = none. */
  saturation: number;
  /** -0.2..0.2: R *= 1 + warmth, B *= 1 - warmth. */
  warmth: number;
  /** 0..0.5: peak extra gain of a soft radial light centred on the face. */
  keyLight: number;
  /** 0..1: how far skin pixels move towards the guided-filtered image. */
  skinSmoothing: number;
  /** 0..0.5: darkening in the corners. */
  vignette: number;
  monochrome: boolean;
}

/** Guided-filter tuning (see the header). */
export const SMOOTHING = {
  /** Downsampling factor (pixels per low-resolution block, each way). */
  pool: 4,
  /** Box window in low-resolution pixels (odd). */
  box: 5,
  /** Regularisation: local variance at which a pixel is half kept, half smoothed. */
  eps: 0.04 * 0.04,
} as const;

/** Rec. 709 luma weights for sRGB values. */
export const LUMA = [0.2126, 0.7152, 0.0722] as const;

export const DEFAULT_KEY_LIGHT = 0.15;
export const DEFAULT_SKIN_SMOOTHING = 0.35;

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** The look a catalog style renders with. */
export function lookForStyle(style: Style): Look {
  const { brightness, saturation, warmth, contrast } = style.grade;
  const monochrome = style.greyscale === true;
  return {
    exposure: brightness,
    contrast,
    saturation: monochrome ? 0 : saturation,
    warmth: clamp(warmth, -0.2, 0.2),
    keyLight: DEFAULT_KEY_LIGHT,
    skinSmoothing: DEFAULT_SKIN_SMOOTHING,
    vignette: clamp(style.vignette, 0, 0.5),
    monochrome,
  };
}

/** Checks a look's ranges; throws naming the first bad field. */
export function checkLook(look: Look): void {
  const ranges: [keyof Look, number, number][] = [
    ['exposure', 0, 4],
    ['contrast', 0, 4],
    ['saturation', 0, 4],
    ['warmth', -0.2, 0.2],
    ['keyLight', 0, 0.5],
    ['skinSmoothing', 0, 1],
    ['vignette', 0, 0.5],
  ];
  for (const [key, lo, hi] of ranges) {
    const v = look[key] as number;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) {
      throw new Error(`style-graph: look.${key} must be a number in [${lo}, ${hi}], got ${String(v)}`);
    }
  }
  if (typeof look.monochrome !== 'boolean') throw new Error('style-graph: look.monochrome must be a boolean');
}

/** The grade as a 1x1 convolution: rows of `weights` ([cout][3]) and `bias` ([cout]). */
export function gradeMatrix(look: Look): { weights: number[][]; bias: number[] } {
  const m = [1 + look.warmth, 1, 1 - look.warmth].map((w) => look.exposure * look.contrast * w);
  const o = 0.5 * (1 - look.contrast);
  if (look.monochrome) {
    return { weights: [LUMA.map((l, c) => l * m[c])], bias: [o * (LUMA[0] + LUMA[1] + LUMA[2])] };
  }
  const s = look.saturation;
  const weights: number[][] = [];
  const bias: number[] = [];
  for (let r = 0; r < 3; r++) {
    const sat = [0, 1, 2].map((c) => (r === c ? s : 0) + (1 - s) * LUMA[c]);
    weights.push(sat.map((v, c) => v * m[c]));
    bias.push(sat.reduce((acc, v) => acc + v * o, 0));
  }
  return { weights, bias };
}

export interface StyleInputs {
  /** [3,4] row-major: [w_R, w_G, w_B, bias] per output channel. */
  grade: Float32Array;
  /** [3]: keyLight, skinSmoothing, vignette. */
  params: Float32Array;
}

/** The look as the graph's `grade` and `params` inputs (checks the look first). */
export function styleInputs(look: Look): StyleInputs {
  checkLook(look);
  const { weights, bias } = gradeMatrix(look);
  const grade = new Float32Array(12);
  // Monochrome has one luma row: it is repeated for R, G and B (the same float32 values).
  for (let r = 0; r < 3; r++) {
    const k = weights.length === 1 ? 0 : r;
    grade.set([...weights[k], bias[k]], 4 * r);
  }
  return { grade, params: Float32Array.from([look.keyLight, look.skinSmoothing, look.vignette]) };
}

// ---------------------------------------------------------------------------------------------
// Graph building
// ---------------------------------------------------------------------------------------------

/** GraphBuilder with constants named c0, c1, ... (deduplicated by value) and nodes named by label. */
class Builder extends GraphBuilder {
  private readonly constants = new Map<string, string>();
  private counter = 0;

  private constant(key: string, dtype: 'float32' | 'int64', dims: number[], data: ArrayLike<number>): string {
    const existing = this.constants.get(key);
    if (existing) return existing;
    const name = `c${this.constants.size}`;
    this.constants.set(key, name);
    return this.init(name, dtype, dims, data);
  }

  /** A float32 scalar initializer (deduplicated by value, exactly as float32). */
  f(value: number): string {
    const v = Math.fround(value);
    return this.constant(`f:${Object.is(v, -0) ? '-0' : v}`, 'float32', [], [v]);
  }
  floats(dims: number[], data: number[]): string {
    return this.constant(`fs:${dims.join('x')}:${data.map((v) => Math.fround(v)).join(',')}`, 'float32', dims, data);
  }
  /** An int64 tensor initializer; `dims` [] for a scalar. */
  ints(dims: number[], data: number[]): string {
    return this.constant(`i:${dims.join('x')}:${data.join(',')}`, 'int64', dims, data);
  }

  op(opType: string, inputs: string[], attributes: AttributeProto[] = [], label = opType.toLowerCase()): string {
    const output = `${label}_${this.counter++}`;
    return this.emit(opType, inputs, output, output, attributes);
  }

  /** Renames the last node's output (for the graph output). */
  renameLast(name: string): void {
    this.nodes[this.nodes.length - 1].output = [name];
  }
}

function boxPool(g: Builder, x: string, label: string): string {
  const k = SMOOTHING.box;
  const p = (k - 1) / 2;
  return g.op(
    'AveragePool',
    [x],
    [
      attr.ints('kernel_shape', [k, k]),
      attr.ints('strides', [1, 1]),
      attr.ints('pads', [p, p, p, p]),
      attr.int('count_include_pad', 0),
    ],
    label,
  );
}

/**
 * Builds the style graph (opset 18, IR 8): one model for every look, which comes in as the `grade`
 * and `params` inputs (styleInputs). Same bytes on every build.
 */
export function buildStyleGraph(): Uint8Array {
  const g = new Builder();
  const IMAGE = 'image';
  const SKIN = 'skin';
  const LIGHT = 'light';
  const GRADE = 'grade';
  const PARAMS = 'params';

  let x = IMAGE;
  const shape = g.op('Shape', [IMAGE], [], 'shape');
  const param = (i: number, label: string) => g.op('Gather', [PARAMS, g.ints([], [i])], [attr.int('axis', 0)], label);
  const keyLight = param(0, 'key_light');
  const skinSmoothing = param(1, 'skin_smoothing');
  const vignette = param(2, 'vignette_strength');

  // --- 1. skin smoothing (fast self-guided filter) ---
  {
    const f = SMOOTHING.pool;
    const P = g.op(
      'AveragePool',
      [x],
      // No ceil_mode: a trailing partial block (H or W not a multiple of 4) is left out of the
      // statistics, its pixels take the clamped border coefficients. ceil_mode's boundary windows
      // are a known source of CPU/CUDA disagreement in onnxruntime (microsoft/onnxruntime#29631).
      [attr.ints('kernel_shape', [f, f]), attr.ints('strides', [f, f])],
      'lowres',
    );
    const mP = boxPool(g, P, 'mean_p');
    const mPP = boxPool(g, g.op('Mul', [P, P], [], 'p2'), 'mean_p2');
    const variance = g.op(
      'Relu',
      [g.op('Sub', [mPP, g.op('Mul', [mP, mP], [], 'mean_p_sq')], [], 'var_raw')],
      [],
      'var',
    );
    const eps = g.f(SMOOTHING.eps);
    const r = g.op('Div', [eps, g.op('Add', [variance, eps], [], 'var_eps')], [], 'r');
    const negA = g.op('Mul', [boxPool(g, r, 'mean_r'), g.op('Neg', [skinSmoothing], [], 'neg_s')], [], 'coef_a');
    const b = g.op('Mul', [boxPool(g, g.op('Mul', [mP, r], [], 'b'), 'mean_b'), skinSmoothing], [], 'coef_b');
    const resize = (t: string, label: string) =>
      g.op(
        'Resize',
        [t, '', '', shape],
        [attr.str('mode', 'linear'), attr.str('coordinate_transformation_mode', 'half_pixel')],
        label,
      );
    const A = resize(negA, 'coef_a_up');
    const B = resize(b, 'coef_b_up');
    // With s = 0, A and B are (+-)0, so delta is 0 and x + skin * 0 is x bit for bit.
    const delta = g.op('Add', [g.op('Mul', [A, x], [], 'ax'), B], [], 'delta');
    x = g.op('Add', [x, g.op('Mul', [SKIN, delta], [], 'skin_delta')], [], 'smoothed');
  }

  // Pixel-centre coordinates, shared by the key light and the vignette.
  const dim = (i: number, label: string) =>
    g.op(
      'Cast',
      [g.op('Gather', [shape, g.ints([], [i])], [attr.int('axis', 0)], `${label}_i64`)],
      [attr.int('to', DT.FLOAT)],
      label,
    );
  const Hf = dim(2, 'h');
  const Wf = dim(3, 'w');
  const xs = g.op('Add', [g.op('Range', [g.f(0), Wf, g.f(1)], [], 'col'), g.f(0.5)], [], 'xs');
  const ys = g.op('Add', [g.op('Range', [g.f(0), Hf, g.f(1)], [], 'row'), g.f(0.5)], [], 'ys');
  const asRow = (v: string, label: string) => g.op('Unsqueeze', [v, g.ints([3], [0, 1, 2])], [], label); // [1,1,1,W]
  const asCol = (v: string, label: string) => g.op('Unsqueeze', [v, g.ints([3], [0, 1, 3])], [], label); // [1,1,H,1]

  // --- 2. key light ---
  {
    const comp = (i: number, label: string) => g.op('Gather', [LIGHT, g.ints([], [i])], [attr.int('axis', 0)], label);
    const cx = comp(0, 'light_cx');
    const cy = comp(1, 'light_cy');
    const radius = g.op('Max', [comp(2, 'light_r_raw'), g.f(1e-3)], [], 'light_r');
    const aspectRaw = comp(3, 'light_aspect_raw');
    const aspect = g.op(
      'Where',
      [g.op('Greater', [aspectRaw, g.f(0)], [], 'aspect_set'), aspectRaw, g.f(1)],
      [],
      'light_aspect',
    );
    const S = g.op('Min', [Hf, Wf], [], 'short_side');
    // c = -1 / (2 r^2)
    const c = g.op('Div', [g.f(-0.5), g.op('Mul', [radius, radius], [], 'r2')], [], 'light_c');
    const u = g.op('Div', [g.op('Sub', [xs, g.op('Mul', [cx, Wf], [], 'cx_px')], [], 'dx_px'), S], [], 'u');
    const v = g.op(
      'Div',
      [g.op('Sub', [ys, g.op('Mul', [cy, Hf], [], 'cy_px')], [], 'dy_px'), g.op('Mul', [S, aspect], [], 'sy')],
      [],
      'v',
    );
    const gx = g.op(
      'Mul',
      [g.op('Exp', [g.op('Mul', [g.op('Mul', [u, u], [], 'u2'), c], [], 'cu2')], [], 'ex'), keyLight],
      [],
      'gx',
    );
    const gy = g.op('Exp', [g.op('Mul', [g.op('Mul', [v, v], [], 'v2'), c], [], 'cv2')], [], 'gy');
    // keyLight 0: gx is 0, the gain exactly 1.
    const gain = g.op(
      'Add',
      [g.op('Mul', [asCol(gy, 'gy_col'), asRow(gx, 'gx_row')], [], 'light'), g.f(1)],
      [],
      'gain',
    );
    x = g.op('Mul', [x, gain], [], 'lit');
  }

  // --- 3. grade ---
  // A [3,3] x [3,H*W] Gemm on the image viewed as a matrix (the NCHW reshape is free). A 1x1
  // Conv says the same, but onnxruntime's CPU provider runs that in its blocked NCHWc layout with
  // a reorder after it, which measured slower than this Gemm (~1.5-2x at 1024x1024).
  {
    const cols = (from: number, to: number, label: string) =>
      g.op('Slice', [GRADE, g.ints([1], [from]), g.ints([1], [to]), g.ints([1], [1])], [], label);
    const weights = cols(0, 3, 'grade_w'); // [3,3]
    const bias = cols(3, 4, 'grade_b'); // [3,1]
    const flat = g.op('Reshape', [x, g.ints([2], [3, -1])], [], 'pixels');
    const graded = g.op('Gemm', [weights, flat, bias], [], 'graded_pixels');
    x = g.op('Reshape', [graded, shape], [], 'graded');
  }

  // --- 4. vignette ---
  {
    // q = sqrt(vignette) * rho^2 = sqrt(vignette) * 2 ((u - .5)^2 + (v - .5)^2); factor = 1 - q^2.
    // vignette 0: q is 0, the factor exactly 1.
    const k = g.op('Mul', [g.op('Sqrt', [vignette], [], 'vignette_sqrt'), g.f(2)], [], 'vignette_k');
    const half = (t: string, size: string, label: string) => {
      const d = g.op('Sub', [g.op('Div', [t, size], [], `${label}_n`), g.f(0.5)], [], `${label}_d`);
      return g.op('Mul', [g.op('Mul', [d, d], [], `${label}_d2`), k], [], `${label}_q`);
    };
    const q = g.op('Add', [asCol(half(ys, Hf, 'vy'), 'vy_col'), asRow(half(xs, Wf, 'vx'), 'vx_row')], [], 'vq');
    const factor = g.op('Sub', [g.f(1), g.op('Mul', [q, q], [], 'vq2')], [], 'vignette');
    x = g.op('Mul', [x, factor], [], 'vignetted');
  }

  // --- 5. clip ---
  g.op('Clip', [x, g.f(0), g.f(1)], [], 'clipped');
  g.renameLast('output');

  return g.encode({
    producerName: 'rasmi models/style-graph',
    producerVersion: STYLE_GRAPH_VERSION,
    docString:
      'Style look: skin smoothing, key light, grade, vignette, clip; the look is the grade and params inputs. See models/style-graph.ts.',
    graphName: 'style_look',
    inputs: [
      floatValueInfo(IMAGE, [1, 3, 'H', 'W']),
      floatValueInfo(SKIN, [1, 1, 'H', 'W']),
      floatValueInfo(LIGHT, [4]),
      floatValueInfo(GRADE, [3, 4]),
      floatValueInfo(PARAMS, [3]),
    ],
    outputs: [floatValueInfo('output', [1, 3, 'H', 'W'])],
    metadata: { version: STYLE_GRAPH_VERSION },
  });
}

// ---------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------

export interface StyleRunnerOptions {
  /** Execution providers in order of preference, e.g. ['cuda', 'cpu']. `cpu` is always tried last. */
  providers: string[];
  logger?: ModelLogger;
  /** onnxruntime intra-op threads; default 2 (the CPU nodes have 2 cores). */
  intraOpNumThreads?: number;
}

export interface StyleRunner {
  /**
   * Applies the look to one image. `image` is NCHW float32 sRGB 0..1 (3 * width * height),
   * `skin` is width * height, `light` is [cx, cy, radius, aspect] as documented in this file.
   * Every look runs on one graph and one session, created by the first call; `styleId` only
   * names the run in the inference metric (`style-graph:<styleId>`).
   */
  run(
    styleId: string,
    look: Look,
    image: Float32Array,
    skin: Float32Array,
    width: number,
    height: number,
    light: readonly [number, number, number, number],
  ): Promise<Float32Array>;
  /** Execution provider of the session; undefined before the first run. */
  readonly provider: string | undefined;
}

export function createStyleRunner(opts: StyleRunnerOptions): StyleRunner {
  const threads = opts.intraOpNumThreads ?? 2;
  let lastProvider: string | undefined;

  // loadOnce memoises per thread (and never evicts): one session per thread for every style and
  // look. The key carries everything the session depends on (graph version, providers, threads).
  const session = (): Promise<LoadedSession> =>
    loadOnce(`style-graph|v${STYLE_GRAPH_VERSION}|${opts.providers.join(',')}|t${threads}`, () =>
      createSession(buildStyleGraph(), {
        providers: opts.providers,
        logger: opts.logger,
        label: 'style-graph',
        // Runs are reported per style below.
        timed: false,
        // No memory pattern: one block planned for every intermediate of a full-size render,
        // kept per thread; the arena alone reuses freed blocks (worker peak about 60 MB lower, same CPU).
        sessionOptions: {
          intraOpNumThreads: threads,
          executionMode: 'sequential',
          enableMemPattern: false,
          ...NO_SPINNING,
        },
      }),
    );

  return {
    get provider() {
      return lastProvider;
    },
    async run(styleId, look, image, skin, width, height, light) {
      if (!Number.isInteger(width) || !Number.isInteger(height) || width < SMOOTHING.pool || height < SMOOTHING.pool) {
        throw new Error(`style-graph: invalid image size ${width}x${height}`);
      }
      if (image.length !== 3 * width * height) {
        throw new Error(
          `style-graph: image must be NCHW 3x${height}x${width} (${3 * width * height} floats), got ${image.length}`,
        );
      }
      if (skin.length !== width * height) {
        throw new Error(`style-graph: skin must be ${height}x${width} (${width * height} floats), got ${skin.length}`);
      }
      if (light.length !== 4 || !light.every((v) => Number.isFinite(v))) {
        throw new Error('style-graph: light must be four finite numbers [cx, cy, radius, aspect]');
      }
      const { grade, params } = styleInputs(look);
      const loaded = await session();
      lastProvider = loaded.provider;
      const started = performance.now();
      try {
        const result = await loaded.session.run({
          image: new ort.Tensor('float32', image, [1, 3, height, width]),
          skin: new ort.Tensor('float32', skin, [1, 1, height, width]),
          light: new ort.Tensor('float32', Float32Array.from(light), [4]),
          grade: new ort.Tensor('float32', grade, [3, 4]),
          params: new ort.Tensor('float32', params, [3]),
        });
        return result.output.data as Float32Array;
      } finally {
        observeInference(`style-graph:${styleId}`, (performance.now() - started) / 1000);
      }
    },
  };
}

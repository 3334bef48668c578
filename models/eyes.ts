/**
 * Eyelids and irises with MediaPipe Iris (converted from TF.js to ONNX by models/build.ts), for a
 * face FaceMesh has read: FaceMesh's 468-point model places the eyelids poorly when the eyes are
 * lowered or closed (it reads a woman looking down with her eyes shut as open, 0.28), while the iris
 * model, run on a 64x64 crop of each eye, draws the lids and the iris closely.
 */
import * as ort from 'onnxruntime-node';
import { openModel } from './build';
import type { Point, RgbImage } from './face-detector';
import { cropToImage, cropToTensor, MESH, type Crop, type Point3 } from './landmarks';
import { getModel } from './registry';
import type { ModelLogger } from './session';

export interface EyeReading {
  /** Gap between the lids where the iris is, over the eye's width: about 0.3 open, under 0.1 closed. */
  openness: number;
  /**
   * Where the iris centre sits between the eye corners (x, 0 at the outer corner, 1 at the inner) and
   * between the lids (y, 0 at the upper lid, 1 at the lower), along the eye line. About 0.5, 0.5 when
   * looking into the camera.
   */
  iris: Point;
  /** Iris diameter over eye width (about 0.4-0.5). */
  irisSize: number;
  /** Distance between the eye corners, image pixels: the nearer eye of a turned head is the wider one. */
  width: number;
  /** The lids and the iris centre in image pixels (for figures and tests). */
  upperLid: Point[];
  lowerLid: Point[];
  irisCentre: Point;
}

export interface EyesReading {
  /** The subject's right eye (on the image's left in an unmirrored frontal photo) and left eye. */
  right: EyeReading;
  left: EyeReading;
}

export interface EyeReader {
  read(image: RgbImage, mesh: Point3[]): Promise<EyesReading>;
  provider: string;
}

const MODEL_ID = 'iris';
const SIZE = 64;
/** The eye crop's side over the distance between the eye corners (MediaPipe's 2.3). */
const CROP_SCALE = 2.3;
const POINTS = 76;
/** Output indices: lower lid 0-8 from the outer corner to the inner, upper lid 9-15 (outer to inner, corners excluded), iris 71 (centre) and 72-75 round it. */
const LOWER = [0, 1, 2, 3, 4, 5, 6, 7, 8];
const UPPER = [9, 10, 11, 12, 13, 14, 15];
const IRIS = 71;

/** The square crop around one eye, levelled on the line between its corners; `mirror` flips it left to right. */
function eyeCrop(outer: Point, inner: Point, mirror: boolean): Crop & { mirror: boolean } {
  const side = Math.hypot(inner.x - outer.x, inner.y - outer.y) * CROP_SCALE;
  // The subject's right eye runs outer -> inner towards the image's right; the left eye the other way.
  const angle = mirror
    ? Math.atan2(outer.y - inner.y, outer.x - inner.x)
    : Math.atan2(inner.y - outer.y, inner.x - outer.x);
  return { cx: (outer.x + inner.x) / 2, cy: (outer.y + inner.y) / 2, side, angle, mirror };
}

/** Flips a SIZE x SIZE x 3 tensor left to right, in place. */
function mirrorTensor(t: Float32Array): void {
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE / 2; x++) {
      const a = (y * SIZE + x) * 3,
        b = (y * SIZE + SIZE - 1 - x) * 3;
      for (let c = 0; c < 3; c++) [t[a + c], t[b + c]] = [t[b + c], t[a + c]];
    }
  }
}

/** Position of p along the segment a -> b (0 at a, 1 at b) and its signed distance from the line, in units of |ab|. */
function along(a: Point, b: Point, p: Point): { t: number; d: number } {
  const dx = b.x - a.x,
    dy = b.y - a.y;
  const len2 = dx * dx + dy * dy || 1;
  return { t: ((p.x - a.x) * dx + (p.y - a.y) * dy) / len2, d: ((p.x - a.x) * dy - (p.y - a.y) * dx) / len2 };
}

/** Lid gap at the iris and the iris's place, from the model's points in image pixels (outer corner first). */
export function describeEye(points: Point[]): EyeReading {
  const outer = points[LOWER[0]],
    inner = points[LOWER[LOWER.length - 1]];
  const width = Math.hypot(inner.x - outer.x, inner.y - outer.y) || 1;
  const centre = points[IRIS];
  const irisSize =
    (Math.hypot(points[72].x - points[74].x, points[72].y - points[74].y) +
      Math.hypot(points[73].x - points[75].x, points[73].y - points[75].y)) /
    2 /
    width;
  // The lids' height above the eye line where the iris centre is (interpolated along each lid).
  const lidAt = (idx: number[], withCorners: boolean) => {
    const pts = (withCorners ? idx : [LOWER[0], ...idx, LOWER[LOWER.length - 1]]).map((i) =>
      along(outer, inner, points[i]),
    );
    const t = along(outer, inner, centre).t;
    for (let i = 1; i < pts.length; i++) {
      if (t <= pts[i].t || i === pts.length - 1) {
        const a = pts[i - 1],
          b = pts[i];
        const f = b.t === a.t ? 0 : Math.max(0, Math.min(1, (t - a.t) / (b.t - a.t)));
        return a.d + f * (b.d - a.d);
      }
    }
    return 0;
  };
  const upper = lidAt(UPPER, false),
    lower = lidAt(LOWER, true);
  const gap = Math.abs(upper - lower);
  const c = along(outer, inner, centre);
  return {
    openness: gap,
    iris: { x: c.t, y: gap > 1e-6 ? (c.d - upper) / (lower - upper) : 0.5 },
    irisSize,
    width,
    upperLid: UPPER.map((i) => points[i]),
    lowerLid: LOWER.map((i) => points[i]),
    irisCentre: centre,
  };
}

/** Loads MediaPipe Iris (building models/onnx/iris.onnx from the installed package first if it is missing). */
export async function createEyeReader(opts: { providers: string[]; logger?: ModelLogger }): Promise<EyeReader> {
  const entry = getModel(MODEL_ID);
  // One thread: the model's 80 small convolutions on 64x64 spend more on handing work between
  // onnxruntime's threads than they save (22 against 56 ms a pair of eyes on this busy machine).
  const { session, provider } = await openModel(MODEL_ID, {
    ...opts,
    sessionOptions: { enableCpuMemArena: false, enableMemPattern: false, intraOpNumThreads: 1 },
  });
  const inputName = entry.input.name;
  const [outputName] = entry.outputs;
  return {
    provider,
    async read(image, mesh) {
      const crops = [
        eyeCrop(mesh[MESH.rightEyeOuter], mesh[MESH.rightEyeInner], false),
        eyeCrop(mesh[MESH.leftEyeOuter], mesh[MESH.leftEyeInner], true),
      ];
      const input = new Float32Array(2 * SIZE * SIZE * 3);
      crops.forEach((crop, k) => {
        const t = cropToTensor(image, crop, SIZE);
        if (crop.mirror) mirrorTensor(t);
        input.set(t, k * SIZE * SIZE * 3);
      });
      const result = await session.run({ [inputName]: new ort.Tensor('float32', input, [2, SIZE, SIZE, 3]) });
      const out = result[outputName].data as Float32Array;
      const [right, left] = crops.map((crop, k) => {
        const points: Point[] = [];
        for (let i = 0; i < POINTS; i++) {
          const u = out[(k * POINTS + i) * 3],
            v = out[(k * POINTS + i) * 3 + 1];
          points.push(cropToImage(crop, crop.mirror ? SIZE - u : u, v, SIZE));
        }
        return describeEye(points);
      });
      return { right, left };
    },
  };
}

/**
 * Face landmarks with MediaPipe FaceMesh (converted from TF.js to ONNX by models/build.ts):
 * 468 3D points, a face-presence probability, five-point landmarks, a head-pose estimate and eye
 * openness, for one face found by the BlazeFace detector (models/face-detector.ts).
 */
import * as ort from 'onnxruntime-node';
import { openModel } from './build';
import type { Face, Point, RgbImage } from './face-detector';
import { getModel } from './registry';
import type { ModelLogger } from './session';

export interface Point3 {
  x: number;
  y: number;
  /** Depth in the same pixel scale as x; smaller is closer to the camera (the nose tip is the most negative). */
  z: number;
}

export interface FacePose {
  /** Degrees; positive when the face turns towards the image's right (the subject turns to their left). */
  yaw: number;
  /** Degrees; positive when the face points up. */
  pitch: number;
  /** Degrees; positive when the head tilts clockwise in the image (the eye on the image's right is lower). */
  roll: number;
}

export interface FaceLandmarks {
  /** 468 FaceMesh points in original image pixels (continuous coordinates: pixel (0,0) spans 0..1). */
  points: Point3[];
  /** FaceMesh face-presence probability, 0..1 (the model's output is already a sigmoid). */
  presence: number;
  /**
   * `right*` are the subject's right, on the image's left for an unmirrored frontal photo
   * (same convention as the detector's keypoints). Eyes: mean of the two eye corners.
   */
  fivePoint: { rightEye: Point; leftEye: Point; nose: Point; mouthRight: Point; mouthLeft: Point };
  /** Estimate from the 3D landmarks; see `estimatePose`. */
  pose: FacePose;
  /** Eyelid gap over eye width (about 0.25-0.35 open, below about 0.1 closed). `right` is the subject's right eye. */
  eyeOpenness: { left: number; right: number };
}

export interface Landmarker {
  landmarks(image: RgbImage, face: Face): Promise<FaceLandmarks>;
  /** Execution provider the model runs on. */
  provider: string;
}

export interface LandmarkerOptions {
  providers: string[];
  logger?: ModelLogger;
  /** Side of the square crop as a multiple of the detector box's longer side. Default 1.6. */
  cropScale?: number;
}

const MODEL_ID = 'facemesh';
const SIZE = 192;
/**
 * Crop side over the detector box side. Measured on the fixtures (presence of the turned face in
 * camera.png / eye error on astronaut.png): 1.3 -> 0.960 / 1.8 px, 1.5 -> 0.994 / 1.6 px,
 * 1.6 -> 0.993 / 2.0 px, 1.8 -> 0.937 / 1.7 px, 2.0 -> 0.703 / 1.7 px; false faces stay below
 * 0.011 at every scale.
 */
export const DEFAULT_CROP_SCALE = 1.6;
const MAX_SUPERSAMPLING = 4;

/** FaceMesh indices used here (MediaPipe canonical mesh; "right" = the subject's right). */
export const MESH = {
  rightEyeOuter: 33,
  rightEyeInner: 133,
  leftEyeInner: 362,
  leftEyeOuter: 263,
  rightUpperLid: 159,
  rightLowerLid: 145,
  leftUpperLid: 386,
  leftLowerLid: 374,
  noseTip: 1,
  mouthRight: 61,
  mouthLeft: 291,
} as const;

/**
 * A square crop of the image: centre, side (image pixels) and rotation (radians; the crop's x axis
 * points along `angle` in the image, so a face whose eye line has that angle comes out level).
 */
export interface Crop {
  cx: number;
  cy: number;
  side: number;
  angle: number;
}

/** The crop FaceMesh expects: the detector box, squared and enlarged, rotated so the detector's eyes are level. */
export function cropForFace(face: Face, scale = DEFAULT_CROP_SCALE): Crop {
  const { box, keypoints } = face;
  const { rightEye, leftEye } = keypoints;
  return {
    cx: box.x + box.width / 2,
    cy: box.y + box.height / 2,
    side: Math.max(box.width, box.height) * scale,
    angle: Math.atan2(leftEye.y - rightEye.y, leftEye.x - rightEye.x),
  };
}

/** Maps a point in crop pixels (0..size) to image pixels. */
export function cropToImage(crop: Crop, u: number, v: number, size = SIZE): Point {
  const k = crop.side / size;
  const dx = (u - size / 2) * k;
  const dy = (v - size / 2) * k;
  const c = Math.cos(crop.angle);
  const s = Math.sin(crop.angle);
  return { x: crop.cx + dx * c - dy * s, y: crop.cy + dx * s + dy * c };
}

/**
 * Samples the crop into a size x size NHWC float32 tensor, RGB in [0,1]. Bilinear, edge pixels
 * replicated outside the image; when the crop shrinks the image, each output pixel averages a grid
 * of up to 4x4 bilinear samples so that the result does not alias. `as: 'mediapipe-body'` samples
 * as MediaPipe does a body's square instead: one bilinear tap a pixel, black beyond the image.
 */
export function cropToTensor(
  image: RgbImage,
  crop: Crop,
  size = SIZE,
  as: 'face' | 'mediapipe-body' = 'face',
): Float32Array {
  const beyond = as === 'mediapipe-body' ? 'black' : 'edge';
  const { data, width, height } = image;
  const out = new Float32Array(size * size * 3);
  const k = crop.side / size;
  const n = as === 'mediapipe-body' ? 1 : Math.min(MAX_SUPERSAMPLING, Math.max(1, Math.ceil(k - 1e-9)));
  const c = Math.cos(crop.angle) * k;
  const s = Math.sin(crop.angle) * k;
  const norm = 1 / (255 * n * n);
  const maxX = width - 1;
  const maxY = height - 1;
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let sy = 0; sy < n; sy++) {
        const dv = v + (sy + 0.5) / n - size / 2;
        for (let sx = 0; sx < n; sx++) {
          const du = u + (sx + 0.5) / n - size / 2;
          // Continuous image coordinates, then pixel-index coordinates (centres at integers).
          const X = crop.cx + du * c - dv * s - 0.5;
          const Y = crop.cy + du * s + dv * c - 0.5;
          const x0f = Math.floor(X);
          const y0f = Math.floor(Y);
          const fx = X - x0f;
          const fy = Y - y0f;
          const x0 = x0f < 0 ? 0 : x0f > maxX ? maxX : x0f;
          const x1 = x0f + 1 < 0 ? 0 : x0f + 1 > maxX ? maxX : x0f + 1;
          const y0 = y0f < 0 ? 0 : y0f > maxY ? maxY : y0f;
          const y1 = y0f + 1 < 0 ? 0 : y0f + 1 > maxY ? maxY : y0f + 1;
          const p00 = (y0 * width + x0) * 3;
          const p01 = (y0 * width + x1) * 3;
          const p10 = (y1 * width + x0) * 3;
          const p11 = (y1 * width + x1) * 3;
          let w00 = (1 - fx) * (1 - fy);
          let w01 = fx * (1 - fy);
          let w10 = (1 - fx) * fy;
          let w11 = fx * fy;
          if (beyond === 'black') {
            // A tap beyond the image adds black.
            const inX0 = x0f >= 0 && x0f <= maxX,
              inX1 = x0f + 1 >= 0 && x0f + 1 <= maxX,
              inY0 = y0f >= 0 && y0f <= maxY,
              inY1 = y0f + 1 >= 0 && y0f + 1 <= maxY;
            if (!(inX0 && inY0)) w00 = 0;
            if (!(inX1 && inY0)) w01 = 0;
            if (!(inX0 && inY1)) w10 = 0;
            if (!(inX1 && inY1)) w11 = 0;
          }
          r += data[p00] * w00 + data[p01] * w01 + data[p10] * w10 + data[p11] * w11;
          g += data[p00 + 1] * w00 + data[p01 + 1] * w01 + data[p10 + 1] * w10 + data[p11 + 1] * w11;
          b += data[p00 + 2] * w00 + data[p01 + 2] * w01 + data[p10 + 2] * w10 + data[p11 + 2] * w11;
        }
      }
      const o = (v * size + u) * 3;
      out[o] = r * norm;
      out[o + 1] = g * norm;
      out[o + 2] = b * norm;
    }
  }
  return out;
}

const mid = (a: Point, b: Point): Point => ({ x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 });
const dist = (a: Point, b: Point): number => Math.hypot(a.x - b.x, a.y - b.y);
const DEG = 180 / Math.PI;

/**
 * Rigid (expression-independent) points of MediaPipe's canonical face model
 * (mediapipe/modules/face_geometry/data/canonical_face_model.obj, Copyright Google LLC,
 * Apache-2.0): [mesh index, x, y, z] in cm, x towards the subject's left, y up, z towards the
 * camera. Eye corners, nose bridge and tip, nostrils, forehead midline, cheekbones, face sides.
 */
export const CANONICAL_FACE_POINTS: readonly (readonly [number, number, number, number])[] = [
  [33, -4.445859, 2.663991, 3.173422],
  [133, -1.856432, 2.585245, 3.757904],
  [362, 1.856432, 2.585245, 3.757904],
  [263, 4.445859, 2.663991, 3.173422],
  [168, 0, 3.271027, 5.236015],
  [6, 0, 2.473255, 5.788627],
  [197, 0, 1.728369, 6.31675],
  [195, 0, 1.059413, 6.774605],
  [5, 0, 0.365669, 7.24287],
  [4, 0, -0.46317, 7.58658],
  [1, 0, -1.126865, 7.475604],
  [98, -1.405627, -1.714196, 5.241087],
  [327, 1.405627, -1.714196, 5.241087],
  [10, 0, 8.261778, 4.481535],
  [151, 0, 6.54539, 5.027311],
  [9, 0, 4.885979, 5.385258],
  [8, 0, 4.019042, 5.284764],
  [50, -4.765501, -0.701554, 3.534632],
  [280, 4.765501, -0.701554, 3.534632],
  [234, -7.664182, 0.673132, -2.435867],
  [454, 7.664182, 0.673132, -2.435867],
];

/** Eigenvector of the largest eigenvalue of a symmetric 4x4 matrix (cyclic Jacobi). */
function topEigenvector4(m: number[][]): number[] {
  const a = m.map((r) => r.slice());
  const v: number[][] = [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    for (let i = 0; i < 4; i++) for (let j = i + 1; j < 4; j++) off += a[i][j] * a[i][j];
    if (off < 1e-22) break;
    for (let p = 0; p < 4; p++) {
      for (let q = p + 1; q < 4; q++) {
        if (Math.abs(a[p][q]) < 1e-300) continue;
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < 4; k++) {
          const akp = a[k][p];
          const akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < 4; k++) {
          const apk = a[p][k];
          const aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (let k = 0; k < 4; k++) {
          const vkp = v[k][p];
          const vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  let best = 0;
  for (let i = 1; i < 4; i++) if (a[i][i] > a[best][best]) best = i;
  return [v[0][best], v[1][best], v[2][best], v[3][best]];
}

/**
 * Head pose by aligning the landmarks to MediaPipe's canonical face, as MediaPipe's face-geometry
 * module does: a least-squares similarity fit (Horn's quaternion method) of the rigid points in
 * CANONICAL_FACE_POINTS onto the measured 3D points. Camera axes are x right, y down, z away from
 * the camera (canonical y and z flipped to match). The fitted rotation R, whose columns X, Y, Z are
 * the face's axes in camera coordinates, is decomposed as R = Ry(-yaw) Rx(-pitch) Rz(roll):
 * yaw = atan2(-Z.x, Z.z), pitch = asin(Z.y), roll = atan2(X.y, Y.y), signs as documented on FacePose.
 * FaceMesh depth (z) is a learned estimate, so yaw and pitch are approximate (a frontal face came
 * out at yaw -1, pitch -6 degrees); roll is essentially the eye-line angle.
 */
export function estimatePose(points: Point3[]): FacePose {
  const n = CANONICAL_FACE_POINTS.length;
  let pc = [0, 0, 0];
  let qc = [0, 0, 0];
  const P: number[][] = [];
  const Q: number[][] = [];
  for (const [i, x, y, z] of CANONICAL_FACE_POINTS) {
    const p = points[i];
    P.push([p.x, p.y, p.z]);
    Q.push([x, -y, -z]);
  }
  for (let k = 0; k < n; k++) {
    pc = pc.map((c, j) => c + P[k][j] / n);
    qc = qc.map((c, j) => c + Q[k][j] / n);
  }
  // S[a][b] = sum over points of q_a * p_b (centred).
  const S = [0, 1, 2].map(() => [0, 0, 0]);
  for (let k = 0; k < n; k++) {
    for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) S[a][b] += (Q[k][a] - qc[a]) * (P[k][b] - pc[b]);
  }
  const [[xx, xy, xz], [yx, yy, yz], [zx, zy, zz]] = S;
  const N = [
    [xx + yy + zz, yz - zy, zx - xz, xy - yx],
    [yz - zy, xx - yy - zz, xy + yx, zx + xz],
    [zx - xz, xy + yx, -xx + yy - zz, yz + zy],
    [xy - yx, zx + xz, yz + zy, -xx - yy + zz],
  ];
  const [w, qx, qy, qz] = topEigenvector4(N);
  // Rotation taking canonical (flipped) coordinates to camera coordinates; columns are the face axes.
  const R = [
    [w * w + qx * qx - qy * qy - qz * qz, 2 * (qx * qy - w * qz), 2 * (qx * qz + w * qy)],
    [2 * (qx * qy + w * qz), w * w - qx * qx + qy * qy - qz * qz, 2 * (qy * qz - w * qx)],
    [2 * (qx * qz - w * qy), 2 * (qy * qz + w * qx), w * w - qx * qx - qy * qy + qz * qz],
  ];
  return {
    yaw: Math.atan2(-R[0][2], R[2][2]) * DEG,
    pitch: Math.asin(Math.max(-1, Math.min(1, R[1][2]))) * DEG,
    roll: Math.atan2(R[1][0], R[1][1]) * DEG,
  };
}

/** Derived measurements from the 468 points (image pixels). */
export function describeLandmarks(points: Point3[], presence: number): FaceLandmarks {
  const p = (i: number): Point => ({ x: points[i].x, y: points[i].y });
  const rightEye = mid(p(MESH.rightEyeOuter), p(MESH.rightEyeInner));
  const leftEye = mid(p(MESH.leftEyeInner), p(MESH.leftEyeOuter));
  const ratio = (a: number, b: number, c: number, d: number) => {
    const w = dist(p(c), p(d));
    return w > 0 ? dist(p(a), p(b)) / w : 0;
  };
  return {
    points,
    presence,
    fivePoint: {
      rightEye,
      leftEye,
      nose: p(MESH.noseTip),
      mouthRight: p(MESH.mouthRight),
      mouthLeft: p(MESH.mouthLeft),
    },
    pose: estimatePose(points),
    eyeOpenness: {
      right: ratio(MESH.rightUpperLid, MESH.rightLowerLid, MESH.rightEyeOuter, MESH.rightEyeInner),
      left: ratio(MESH.leftUpperLid, MESH.leftLowerLid, MESH.leftEyeInner, MESH.leftEyeOuter),
    },
  };
}

function checkImage(image: RgbImage): void {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`landmarks: invalid image size ${width}x${height}`);
  }
  if (data.length !== width * height * 3) {
    throw new Error(
      `landmarks: expected packed RGB (${width}x${height}x3 = ${width * height * 3} bytes), got ${data.length} bytes`,
    );
  }
}

/**
 * Loads FaceMesh (building models/onnx/facemesh.onnx from the installed package first if it is
 * missing) and returns a landmarker for faces found by the BlazeFace detector.
 */
export async function createLandmarker(opts: LandmarkerOptions): Promise<Landmarker> {
  const scale = opts.cropScale ?? DEFAULT_CROP_SCALE;
  if (!(scale > 0 && Number.isFinite(scale)))
    throw new Error(`landmarks: cropScale must be a positive number, got ${scale}`);
  const entry = getModel(MODEL_ID);
  const { session, provider } = await openModel(MODEL_ID, opts);
  const inputName = entry.input.name;
  const [meshName, presenceName] = entry.outputs;

  return {
    provider,
    async landmarks(image: RgbImage, face: Face): Promise<FaceLandmarks> {
      checkImage(image);
      const crop = cropForFace(face, scale);
      if (!(crop.side > 0) || !Number.isFinite(crop.cx) || !Number.isFinite(crop.cy) || !Number.isFinite(crop.angle)) {
        throw new Error('landmarks: the face has an empty or invalid box');
      }
      const tensor = cropToTensor(image, crop);
      const result = await session.run({ [inputName]: new ort.Tensor('float32', tensor, [1, SIZE, SIZE, 3]) });
      const mesh = result[meshName].data as Float32Array;
      const presence = (result[presenceName].data as Float32Array)[0];
      const k = crop.side / SIZE;
      const points: Point3[] = new Array(468);
      for (let i = 0; i < 468; i++) {
        const q = cropToImage(crop, mesh[3 * i], mesh[3 * i + 1]);
        points[i] = { x: q.x, y: q.y, z: mesh[3 * i + 2] * k };
      }
      return describeLandmarks(points, Math.min(1, Math.max(0, presence)));
    },
  };
}

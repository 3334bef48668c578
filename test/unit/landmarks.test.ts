import { describe, it, expect, beforeAll } from 'vitest';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import {
  createFaceDetector,
  type Face,
  type FaceDetector,
  type Point,
  type RgbImage,
} from '../../models/face-detector';
import {
  CANONICAL_FACE_POINTS,
  createLandmarker,
  estimatePose,
  type FaceLandmarks,
  type Landmarker,
  type Point3,
} from '../../models/landmarks';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));

async function rgb(input: string | Buffer): Promise<RgbImage> {
  const { data, info } = await sharp(input)
    .rotate()
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected 3 channels, got ${info.channels}`);
  return { data, width: info.width, height: info.height };
}

const dist = (a: Point, b: Point) => Math.hypot(a.x - b.x, a.y - b.y);

describe('FaceMesh landmarks', () => {
  let detector: FaceDetector;
  let landmarker: Landmarker;
  const results: Record<string, { image: RgbImage; faces: Face[]; marks: FaceLandmarks[] }> = {};

  beforeAll(async () => {
    // 0.5 rather than the default 0.6 so that the detector's false positives on the cat and the cup show up.
    detector = await createFaceDetector({ providers: ['cpu'], scoreThreshold: 0.5 });
    landmarker = await createLandmarker({ providers: ['cpu'] }); // builds models/onnx/facemesh.onnx if missing
    for (const file of ['astronaut.png', 'camera.png', 'chelsea.png', 'coffee.png']) {
      const image = await rgb(fixtures + file);
      const faces = await detector.detect(image);
      const marks: FaceLandmarks[] = [];
      for (const f of faces) marks.push(await landmarker.landmarks(image, f));
      results[file] = { image, faces, marks };
    }
  });

  it('astronaut.png: high presence, five points on the detector keypoints, open eyes, frontal pose', async () => {
    const { faces, marks } = results['astronaut.png'];
    expect(faces).toHaveLength(1);
    const [face] = faces;
    const [m] = marks;
    expect(m.points).toHaveLength(468);
    for (const p of m.points) {
      expect(Number.isFinite(p.x) && Number.isFinite(p.y) && Number.isFinite(p.z)).toBe(true);
      expect(p.x).toBeGreaterThan(face.box.x - 0.3 * face.box.width);
      expect(p.x).toBeLessThan(face.box.x + 1.3 * face.box.width);
      expect(p.y).toBeGreaterThan(face.box.y - 0.3 * face.box.height);
      expect(p.y).toBeLessThan(face.box.y + 1.3 * face.box.height);
    }
    // Observed: presence 0.99999+.
    expect(m.presence).toBeGreaterThan(0.99);
    expect(m.presence).toBeLessThanOrEqual(1);

    // Observed five points: rightEye (204.0, 102.7), leftEye (247.1, 104.8), nose (223.4, 132.2),
    // mouthRight (201.3, 139.2), mouthLeft (245.9, 141.5); BlazeFace eyes (202.8, 101.8) and
    // (248.0, 103.1), nose (224.2, 128.3): distances 1.5, 2.0 and 3.9 px.
    const k = face.keypoints;
    const f = m.fivePoint;
    expect(dist(f.rightEye, k.rightEye)).toBeLessThan(8);
    expect(dist(f.leftEye, k.leftEye)).toBeLessThan(8);
    expect(dist(f.nose, k.nose)).toBeLessThan(8);
    expect(Math.abs(f.rightEye.x - 204)).toBeLessThan(4);
    expect(Math.abs(f.rightEye.y - 102.7)).toBeLessThan(4);
    expect(Math.abs(f.leftEye.x - 247.1)).toBeLessThan(4);
    expect(Math.abs(f.leftEye.y - 104.8)).toBeLessThan(4);
    // Subject's right is on the image's left; mouth corners below the nose, either side of it.
    expect(f.rightEye.x).toBeLessThan(f.leftEye.x);
    expect(f.mouthRight.x).toBeLessThan(f.nose.x);
    expect(f.mouthLeft.x).toBeGreaterThan(f.nose.x);
    expect(Math.min(f.mouthRight.y, f.mouthLeft.y)).toBeGreaterThan(f.nose.y);

    // Observed eye openness 0.39 / 0.39.
    expect(m.eyeOpenness.left).toBeGreaterThan(0.2);
    expect(m.eyeOpenness.right).toBeGreaterThan(0.2);
    expect(m.eyeOpenness.left).toBeLessThan(0.6);
    expect(m.eyeOpenness.right).toBeLessThan(0.6);

    // Observed pose: yaw -1.0, pitch -6.3, roll 3.1 degrees.
    expect(Math.abs(m.pose.yaw)).toBeLessThan(10);
    expect(Math.abs(m.pose.pitch)).toBeLessThan(12);
    expect(Math.abs(m.pose.roll)).toBeLessThan(8);
  });

  it('camera.png: the small turned face has a high presence and a large yaw', async () => {
    const { faces, marks } = results['camera.png'];
    expect(faces).toHaveLength(1);
    // Observed: presence 0.993, yaw +52.6 (turned towards the image's right), pitch -19.3, roll 1.6.
    expect(marks[0].presence).toBeGreaterThan(0.9);
    expect(marks[0].pose.yaw).toBeGreaterThan(25);
    expect(dist(marks[0].fivePoint.rightEye, faces[0].keypoints.rightEye)).toBeLessThan(8);
    expect(dist(marks[0].fivePoint.leftEye, faces[0].keypoints.leftEye)).toBeLessThan(8);
  });

  it("rejects the detector's false faces on the cat (chelsea.png) and the cup (coffee.png) by presence", async () => {
    const cat = results['chelsea.png'];
    const cup = results['coffee.png'];
    // Observed: cat detection score 0.74 -> presence 0.0105; cup detections 0.66 and 0.51 -> 0.0014 and 0.0047.
    expect(cat.faces).toHaveLength(1);
    expect(cup.faces.length).toBeGreaterThanOrEqual(1);
    for (const m of [...cat.marks, ...cup.marks]) expect(m.presence).toBeLessThan(0.05);
  });

  it('separates real from false faces: every real-face presence is above every false-face presence by a wide margin', () => {
    const presence = (file: string) => results[file].marks.map((m) => m.presence);
    const real = [...presence('astronaut.png'), ...presence('camera.png')];
    const fake = [...presence('chelsea.png'), ...presence('coffee.png')];
    expect(real.length).toBe(2);
    expect(fake.length).toBeGreaterThanOrEqual(2);
    expect(Math.min(...real)).toBeGreaterThan(0.9);
    expect(Math.max(...fake)).toBeLessThan(0.05);
  });

  it('follows the face through in-plane rotation and scaling (crop rotation and inverse mapping)', async () => {
    const base = results['astronaut.png'].marks[0];

    // sharp rotates clockwise for positive angles: roll grows by the same amount.
    const rotated = await rgb(
      await sharp(`${fixtures}astronaut.png`).rotate(25, { background: '#000' }).png().toBuffer(),
    );
    const [rf] = await detector.detect(rotated);
    const rm = await landmarker.landmarks(rotated, rf);
    expect(rm.presence).toBeGreaterThan(0.99);
    expect(Math.abs(rm.pose.roll - base.pose.roll - 25)).toBeLessThan(5); // observed 28.3 vs 3.1
    // The landmark eye distance does not change with rotation.
    const eyeDist = (m: FaceLandmarks) => dist(m.fivePoint.rightEye, m.fivePoint.leftEye);
    expect(Math.abs(eyeDist(rm) - eyeDist(base))).toBeLessThan(3);

    // 3x larger photo (the crop is then shrunk with supersampling): same points, 3x the coordinates.
    const big = await rgb(
      await sharp(`${fixtures}astronaut.png`).resize(1536, 1536, { kernel: 'cubic' }).png().toBuffer(),
    );
    const [bf] = await detector.detect(big);
    const bm = await landmarker.landmarks(big, bf);
    expect(bm.presence).toBeGreaterThan(0.99);
    let worst = 0;
    for (let i = 0; i < 468; i++)
      worst = Math.max(worst, Math.hypot(bm.points[i].x / 3 - base.points[i].x, bm.points[i].y / 3 - base.points[i].y));
    expect(worst).toBeLessThan(1.5); // in original pixels
  });

  it('rejects images that are not packed RGB', async () => {
    const { image, faces } = results['astronaut.png'];
    await expect(landmarker.landmarks({ ...image, data: image.data.subarray(1) }, faces[0])).rejects.toThrow(
      /packed RGB/,
    );
  });
});

describe('estimatePose', () => {
  /** Canonical points in camera axes (x right, y down, z away), rotated, scaled and moved. */
  function posed(yaw: number, pitch: number, roll: number): Point3[] {
    const r = Math.PI / 180;
    // R = Ry(-yaw) Rx(-pitch) Rz(roll), the decomposition estimatePose inverts.
    const [a, b, c] = [-yaw * r, -pitch * r, roll * r];
    const Ry = [
      [Math.cos(a), 0, Math.sin(a)],
      [0, 1, 0],
      [-Math.sin(a), 0, Math.cos(a)],
    ];
    const Rx = [
      [1, 0, 0],
      [0, Math.cos(b), -Math.sin(b)],
      [0, Math.sin(b), Math.cos(b)],
    ];
    const Rz = [
      [Math.cos(c), -Math.sin(c), 0],
      [Math.sin(c), Math.cos(c), 0],
      [0, 0, 1],
    ];
    const mul = (A: number[][], B: number[][]) =>
      A.map((row) => B[0].map((_, j) => row.reduce((s, v, k) => s + v * B[k][j], 0)));
    const R = mul(mul(Ry, Rx), Rz);
    const points: Point3[] = Array.from({ length: 468 }, () => ({ x: 0, y: 0, z: 0 }));
    for (const [i, x, y, z] of CANONICAL_FACE_POINTS) {
      const q = [x, -y, -z];
      const p = R.map((row) => row[0] * q[0] + row[1] * q[1] + row[2] * q[2]);
      points[i] = { x: 300 + 12 * p[0], y: 200 + 12 * p[1], z: 12 * p[2] };
    }
    return points;
  }

  it('recovers yaw, pitch and roll of a posed canonical face', () => {
    for (const [yaw, pitch, roll] of [
      [0, 0, 0],
      [30, 0, 0],
      [0, -20, 0],
      [0, 0, 15],
      [-35, 12, -8],
      [50, -25, 30],
    ]) {
      const pose = estimatePose(posed(yaw, pitch, roll));
      expect(pose.yaw).toBeCloseTo(yaw, 6);
      expect(pose.pitch).toBeCloseTo(pitch, 6);
      expect(pose.roll).toBeCloseTo(roll, 6);
    }
  });

  it('signs: yaw > 0 moves the nose tip to the image right, pitch > 0 moves it up, roll > 0 lowers the image-right eye', () => {
    const front = posed(0, 0, 0);
    expect(posed(20, 0, 0)[1].x).toBeGreaterThan(front[1].x);
    expect(posed(0, 20, 0)[1].y).toBeLessThan(front[1].y);
    expect(posed(0, 0, 20)[263].y).toBeGreaterThan(posed(0, 0, 20)[33].y);
  });
});

import type { Point } from '../models/face-detector';

/**
 * The face-true check: landmarks found on a render, mapped back into the photo, must agree with
 * the photo's own landmarks. The five points are the eyes, nose tip and mouth corners; the error
 * is the largest distance over the inter-ocular distance (IOD), so it does not depend on size.
 * The tolerance comes from the landmark model's own noise (README, "Face-true check").
 */
export interface FivePoints {
  rightEye: Point;
  leftEye: Point;
  nose: Point;
  mouthRight: Point;
  mouthLeft: Point;
}

export const FIVE = ['rightEye', 'leftEye', 'nose', 'mouthRight', 'mouthLeft'] as const;

export interface FaceTrueResult {
  ok: boolean;
  /** Largest point distance over the IOD. */
  error: number;
  tolerance: number;
  /** Which point moved most. */
  worst: (typeof FIVE)[number];
}

export function interOcular(p: FivePoints): number {
  return Math.hypot(p.leftEye.x - p.rightEye.x, p.leftEye.y - p.rightEye.y);
}

export function faceTrue(expected: FivePoints, found: FivePoints, tolerance: number): FaceTrueResult {
  const iod = interOcular(expected);
  let error = 0;
  let worst: (typeof FIVE)[number] = 'rightEye';
  for (const k of FIVE) {
    const d = Math.hypot(found[k].x - expected[k].x, found[k].y - expected[k].y) / iod;
    if (d > error) {
      error = d;
      worst = k;
    }
  }
  return { ok: error <= tolerance, error, tolerance, worst };
}

export function mapFive(p: FivePoints, map: (q: Point) => Point): FivePoints {
  return { rightEye: map(p.rightEye), leftEye: map(p.leftEye), nose: map(p.nose), mouthRight: map(p.mouthRight), mouthLeft: map(p.mouthLeft) };
}

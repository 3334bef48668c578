import type { Config } from '../core/config';
import type { Verdict } from '../core/orders';
import { createFaceDetector, type RgbImage } from '../models/face-detector';
import { createLandmarker } from '../models/landmarks';
import type { ModelLogger } from '../models/session';
import { DEFAULT_THRESHOLDS, judge, mainFace, type QualityThresholds } from './quality';
import type { FaceGeometry } from './render';

/** At most this many detections get landmarks; more faces than that is 'several faces' anyway. */
const MAX_FACES = 4;

export interface Analysis {
  verdict: Verdict;
  /** The subject's face, for framing, when the photo is usable. */
  geometry?: FaceGeometry;
}

export interface Analyser {
  analyse(image: RgbImage): Promise<Analysis>;
}

export function thresholdsFrom(config: Pick<Config, 'MAX_HEAD_TURN_DEGREES' | 'EYES_CLOSED_BELOW'>): QualityThresholds {
  return { ...DEFAULT_THRESHOLDS, maxHeadTurn: config.MAX_HEAD_TURN_DEGREES, eyesClosedBelow: config.EYES_CLOSED_BELOW };
}

/**
 * The analysis seam (SD1): BlazeFace finds candidate faces, FaceMesh confirms each with its
 * face-presence score and measures landmarks, pose and eyes, and judge() gives the verdict.
 * BlazeFace alone takes a cat (0.74) or a coffee cup (0.66) for a face; FaceMesh scores them
 * 0.01 against 0.99 for real faces, so presence is what decides.
 */
export async function createAnalyser(opts: { providers: string[]; logger?: ModelLogger; presenceMin: number; thresholds?: QualityThresholds }): Promise<Analyser> {
  const detector = await createFaceDetector({ providers: opts.providers, logger: opts.logger });
  const mesh = await createLandmarker({ providers: opts.providers, logger: opts.logger });
  return {
    async analyse(image) {
      const faces = (await detector.detect(image)).slice(0, MAX_FACES);
      const found = [];
      for (const face of faces) {
        const landmarks = await mesh.landmarks(image, face);
        if (landmarks.presence >= opts.presenceMin) found.push({ face, landmarks });
      }
      const verdict = judge(image, found, opts.thresholds ?? DEFAULT_THRESHOLDS);
      if (!verdict.usable) return { verdict };
      const { face, landmarks } = mainFace(found);
      const fp = landmarks.fivePoint;
      return { verdict, geometry: { box: face.box, eyes: { right: fp.rightEye, left: fp.leftEye }, fivePoint: { rightEye: fp.rightEye, leftEye: fp.leftEye, nose: fp.nose, mouthRight: fp.mouthRight, mouthLeft: fp.mouthLeft } } };
    },
  };
}

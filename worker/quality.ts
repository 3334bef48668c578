import type { Face, RgbImage } from '../models/face-detector';
import type { FaceLandmarks } from '../models/landmarks';
import type { Verdict } from '../core/orders';

/**
 * The quality verdict (SD1): every reason that applies, each with a stable code and a plain
 * sentence, plus the measured values, so a person knows what to retake and why.
 */
export interface QualityThresholds {
  /** A second face counts when its box is at least this fraction of the largest face's width. */
  dominantFaceRatio: number;
  /** Face width as a fraction of the photo's shorter side. */
  minFaceFraction: number;
  minFacePixels: number;
  minSharpness: number;
  minLuminance: number;
  maxLuminance: number;
  /** Yaw or pitch beyond this many degrees is 'turned away'. */
  maxHeadTurn: number;
  /** Eyelid gap over eye width below this is 'eyes closed'. */
  eyesClosedBelow: number;
  /** Roll beyond this many degrees: the head (or the whole photo) lies on its side. */
  maxRoll: number;
}

export const DEFAULT_THRESHOLDS: QualityThresholds = {
  dominantFaceRatio: 0.6,
  minFaceFraction: 0.12,
  minFacePixels: 64,
  minSharpness: 40,
  minLuminance: 60,
  maxLuminance: 205,
  maxHeadTurn: 25,
  eyesClosedBelow: 0.12,
  maxRoll: 30,
};

const MESSAGES = {
  no_face: 'We could not find a face in this photo.',
  several_faces: 'There is more than one face in this photo; use a photo of you alone.',
  face_too_small: 'Your face is too small in this photo; take it closer, head and shoulders.',
  face_cut_off: 'Your face is cut off by the edge of the photo.',
  blurred: 'The photo is blurred; hold the camera steady and focus on your face.',
  too_dark: 'Your face is too dark; face a window or a light.',
  too_bright: 'Your face is over-exposed; avoid direct sun or flash.',
  turned_away: 'Your head is turned too far; look straight at the camera.',
  eyes_closed: 'Your eyes look closed; keep them open for the photo.',
  head_tilted: 'Your head is tilted far to one side, or the photo is on its side; hold the camera upright.',
} as const;

export type ReasonCode = keyof typeof MESSAGES;

export function reason(code: ReasonCode) {
  return { code, message: MESSAGES[code] };
}

/** Mean luma and variance of the Laplacian over the face box (clipped to the photo). */
export function measureFace(image: RgbImage, box: Face['box']): { luminance: number; sharpness: number } {
  const x0 = Math.max(1, Math.floor(box.x)), y0 = Math.max(1, Math.floor(box.y));
  const x1 = Math.min(image.width - 1, Math.ceil(box.x + box.width)), y1 = Math.min(image.height - 1, Math.ceil(box.y + box.height));
  // Sample on a grid of at most ~200x200 so a 12 MP face costs the same as a small one.
  const step = Math.max(1, Math.floor(Math.max(x1 - x0, y1 - y0) / 200));
  const luma = (x: number, y: number) => {
    const i = (y * image.width + x) * 3;
    return 0.299 * image.data[i] + 0.587 * image.data[i + 1] + 0.114 * image.data[i + 2];
  };
  let sum = 0, n = 0, lapSum = 0, lapSq = 0;
  for (let y = y0; y < y1; y += step) {
    for (let x = x0; x < x1; x += step) {
      const c = luma(x, y);
      sum += c;
      n++;
      if (x - step >= 0 && y - step >= 0 && x + step < image.width && y + step < image.height) {
        const lap = luma(x - step, y) + luma(x + step, y) + luma(x, y - step) + luma(x, y + step) - 4 * c;
        lapSum += lap;
        lapSq += lap * lap;
      }
    }
  }
  const mean = n ? sum / n : 0;
  const lapMean = n ? lapSum / n : 0;
  return { luminance: mean, sharpness: n ? lapSq / n - lapMean * lapMean : 0 };
}

/** The largest face: the subject when one face clearly dominates the photo. */
export function mainFace<T extends { face: Face }>(faces: T[]): T {
  return faces.reduce((a, b) => (b.face.box.width > a.face.box.width ? b : a));
}

/** Faces come with their landmarks; the detector's false faces were already dropped by presence. */
export function judge(image: RgbImage, found: { face: Face; landmarks: FaceLandmarks }[], t: QualityThresholds = DEFAULT_THRESHOLDS): Verdict {
  if (!found.length) return { usable: false, faces: 0, reasons: [reason('no_face')] };
  const subject = mainFace(found);
  const { face: main, landmarks } = subject;
  const faces = found.map((f) => f.face);
  const others = faces.filter((f) => f !== main && f.box.width >= t.dominantFaceRatio * main.box.width);
  const reasons = [];
  if (others.length) reasons.push(reason('several_faces'));
  const short = Math.min(image.width, image.height);
  const fraction = main.box.width / short;
  if (main.box.width < t.minFacePixels || fraction < t.minFaceFraction) reasons.push(reason('face_too_small'));
  const margin = main.box.width * 0.05;
  if (main.box.x < -margin || main.box.y < -margin || main.box.x + main.box.width > image.width + margin || main.box.y + main.box.height > image.height + margin) {
    reasons.push(reason('face_cut_off'));
  }
  const m = measureFace(image, main.box);
  if (m.sharpness < t.minSharpness) reasons.push(reason('blurred'));
  if (m.luminance < t.minLuminance) reasons.push(reason('too_dark'));
  if (m.luminance > t.maxLuminance) reasons.push(reason('too_bright'));
  const { yaw, pitch, roll } = landmarks.pose;
  if (Math.max(Math.abs(yaw), Math.abs(pitch)) > t.maxHeadTurn) reasons.push(reason('turned_away'));
  if (Math.abs(roll) > t.maxRoll) reasons.push(reason('head_tilted'));
  const openness = Math.min(landmarks.eyeOpenness.left, landmarks.eyeOpenness.right);
  if (openness < t.eyesClosedBelow) reasons.push(reason('eyes_closed'));
  return {
    usable: reasons.length === 0,
    faces: 1 + others.length,
    score: main.score * Math.min(1, fraction / 0.3),
    reasons,
    measurements: {
      face_score: round(main.score),
      face_x: round(main.box.x),
      face_y: round(main.box.y),
      face_width: round(main.box.width),
      face_fraction: round(fraction),
      sharpness: round(m.sharpness),
      luminance: round(m.luminance),
      presence: round(landmarks.presence),
      yaw: round(yaw),
      pitch: round(pitch),
      roll: round(roll),
      eye_openness: round(openness),
    },
  };
}

const round = (v: number) => Math.round(v * 1000) / 1000;

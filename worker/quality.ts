import type { Face, RgbImage } from '../models/face-detector';
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
}

export const DEFAULT_THRESHOLDS: QualityThresholds = {
  dominantFaceRatio: 0.6,
  minFaceFraction: 0.12,
  minFacePixels: 64,
  minSharpness: 40,
  minLuminance: 60,
  maxLuminance: 205,
};

const MESSAGES = {
  no_face: 'We could not find a face in this photo.',
  several_faces: 'There is more than one face in this photo; use a photo of you alone.',
  face_too_small: 'Your face is too small in this photo; take it closer, head and shoulders.',
  face_cut_off: 'Your face is cut off by the edge of the photo.',
  blurred: 'The photo is blurred; hold the camera steady and focus on your face.',
  too_dark: 'Your face is too dark; face a window or a light.',
  too_bright: 'Your face is over-exposed; avoid direct sun or flash.',
} as const;

export type ReasonCode = keyof typeof MESSAGES | 'turned_away' | 'eyes_closed';

export function reason(code: ReasonCode, message?: string) {
  return { code, message: message ?? MESSAGES[code as keyof typeof MESSAGES] };
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

export function judge(image: RgbImage, faces: Face[], t: QualityThresholds = DEFAULT_THRESHOLDS): Verdict {
  if (!faces.length) return { usable: false, faces: 0, reasons: [reason('no_face')] };
  const main = faces.reduce((a, b) => (b.box.width > a.box.width ? b : a));
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
    },
  };
}

const round = (v: number) => Math.round(v * 1000) / 1000;

import type { Face, RgbImage } from '../models/face-detector';
import type { FaceLandmarks } from '../models/landmarks';
import { reason, type FaceBox, type Reason, type Side, type Verdict } from '../core/verdict';
import { headCutOff } from './framing';

/**
 * The quality verdict (SD1): every reason that applies, each with a stable code and a plain
 * sentence, plus the measured values, so a person knows what to retake and why.
 */
export interface QualityThresholds {
  /** A second face counts when its box is at least this fraction of the largest face's width. */
  dominantFaceRatio: number;
  /** Face width in source pixels the framing needs (with ESRGAN's x4 at most; see facePixelsNeeded). */
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
  minFacePixels: 92,
  minSharpness: 40,
  minLuminance: 60,
  maxLuminance: 205,
  maxHeadTurn: 25,
  eyesClosedBelow: 0.12,
  maxRoll: 30,
};

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

/**
 * Degrees clockwise the face is turned from upright (0, 90, 180 or 270), from the detector's
 * keypoints: the eyes-to-mouth direction points down in an upright face. (FaceMesh's roll cannot
 * tell: its crop is levelled on the detector's eyes, which an upside-down face swaps.)
 */
export function uprightTurn(face: Face): number {
  const k = face.keypoints;
  const down = { x: k.mouth.x - (k.leftEye.x + k.rightEye.x) / 2, y: k.mouth.y - (k.leftEye.y + k.rightEye.y) / 2 };
  const deg = (Math.atan2(-down.x, down.y) * 180) / Math.PI;
  return (((Math.round(deg / 90) * 90) % 360) + 360) % 360;
}

/** Which edge of the photo cuts the face, if any: its box or a landmark outside by more than a margin. */
export function cutSide(image: { width: number; height: number }, face: Face, points: { x: number; y: number }[]): Side | undefined {
  const margin = face.box.width * 0.05;
  const xs = points.map((p) => p.x).concat(face.box.x, face.box.x + face.box.width);
  const ys = points.map((p) => p.y).concat(face.box.y, face.box.y + face.box.height);
  const over: [Side, number][] = [
    ['left', -Math.min(...xs)],
    ['right', Math.max(...xs) - image.width],
    ['top', -Math.min(...ys)],
    ['bottom', Math.max(...ys) - image.height],
  ];
  const [side, by] = over.reduce((a, b) => (b[1] > a[1] ? b : a));
  return by > margin ? side : undefined;
}

export interface Found {
  face: Face;
  landmarks: FaceLandmarks;
}

const round = (v: number) => Math.round(v * 1000) / 1000;
const boxOf = (f: Face): FaceBox => ({ x: Math.round(f.box.x), y: Math.round(f.box.y), width: Math.round(f.box.width), height: Math.round(f.box.height), score: round(f.score) });

/**
 * The verdict for the faces FaceMesh confirmed (largest is the subject). With none confirmed,
 * `blurredCandidate` is a place the detector scored as a face where the photo is too soft for
 * FaceMesh to confirm one: the true reason is then the blur, not a missing face.
 */
export function judge(image: RgbImage, found: Found[], t: QualityThresholds = DEFAULT_THRESHOLDS, blurredCandidate?: Face): Verdict {
  if (!found.length) {
    if (blurredCandidate) {
      const { sharpness } = measureFace(image, blurredCandidate.box);
      return {
        usable: false,
        faces: 0,
        boxes: [boxOf(blurredCandidate)],
        reasons: [reason('blurred', `The photo is too blurred to make out a face (sharpness ${Math.round(sharpness)}; a clear face measures ${t.minSharpness} or more).`, { measured: round(sharpness), required: t.minSharpness })],
        measurements: { sharpness: round(sharpness) },
      };
    }
    return { usable: false, faces: 0, boxes: [], reasons: [reason('no_face', 'We could not find a face in this photo.')] };
  }
  const subject = mainFace(found);
  const { face: main, landmarks } = subject;
  const others = found.filter((f) => f !== subject && f.face.box.width >= t.dominantFaceRatio * main.box.width);
  const boxes = [subject, ...others].map((f) => boxOf(f.face));
  const faces = 1 + others.length;
  const reasons: Reason[] = [];
  const turn = uprightTurn(main);
  if (turn !== 0) {
    // Measurements of a face lying on its side would be of the wrong axes: this is the one reason.
    const how = turn === 180 ? 'upside down' : `turned ${turn}° clockwise`;
    return { usable: false, faces, boxes, reasons: [reason('rotated', `The photo is ${how}, so your face is not upright.`, { angle: turn })], measurements: { rotation: turn } };
  }
  if (others.length) reasons.push(reason('several_faces', `There are ${faces} faces in this photo; a headshot needs you alone.`, { measured: faces, required: 1 }));
  const width = main.box.width;
  if (width < t.minFacePixels) {
    reasons.push(reason('face_too_small', `Your face is ${Math.round(width)} px wide in this photo; a headshot needs at least ${t.minFacePixels} px.`, { measured: Math.round(width), required: t.minFacePixels }));
  }
  const side = cutSide(image, main, landmarks.points);
  if (side) reasons.push(reason('face_cut_off', `Your face is cut off by the ${side} edge of the photo.`, { side }));
  else {
    // The head beyond the face: a cut that no allowed head-and-shoulders frame can hide (a little
    // hair past the top edge is framed around and says nothing).
    const fp = landmarks.fivePoint;
    const [head] = headCutOff({ box: main.box, eyes: { right: fp.rightEye, left: fp.leftEye } }, image);
    if (head) reasons.push(reason('head_cut_off', head === 'top' ? 'The top of your head is cut off by the top edge of the photo.' : `Your head is cut off by the ${head} edge of the photo.`, { side: head }));
  }
  const m = measureFace(image, main.box);
  if (m.sharpness < t.minSharpness) {
    reasons.push(reason('blurred', `Your face is blurred (sharpness ${Math.round(m.sharpness)}; a clear face measures ${t.minSharpness} or more).`, { measured: round(m.sharpness), required: t.minSharpness }));
  }
  if (m.luminance < t.minLuminance) reasons.push(reason('too_dark', `Your face is too dark (brightness ${Math.round(m.luminance)} of 255; at least ${t.minLuminance}).`, { measured: Math.round(m.luminance), required: t.minLuminance }));
  if (m.luminance > t.maxLuminance) reasons.push(reason('too_bright', `Your face is over-exposed (brightness ${Math.round(m.luminance)} of 255; at most ${t.maxLuminance}).`, { measured: Math.round(m.luminance), required: t.maxLuminance }));
  const { yaw, pitch, roll } = landmarks.pose;
  const turned = Math.max(Math.abs(yaw), Math.abs(pitch));
  if (turned > t.maxHeadTurn) reasons.push(reason('turned_away', `Your head is turned ${Math.round(turned)}° away from the camera; at most ${t.maxHeadTurn}°.`, { measured: Math.round(turned), required: t.maxHeadTurn }));
  if (Math.abs(roll) > t.maxRoll) reasons.push(reason('head_tilted', `Your head is tilted ${Math.round(Math.abs(roll))}° to one side; at most ${t.maxRoll}°.`, { measured: Math.round(Math.abs(roll)), required: t.maxRoll }));
  const openness = Math.min(landmarks.eyeOpenness.left, landmarks.eyeOpenness.right);
  if (openness < t.eyesClosedBelow) reasons.push(reason('eyes_closed', 'Your eyes look closed in this photo.', { measured: round(openness), required: t.eyesClosedBelow }));
  const short = Math.min(image.width, image.height);
  return {
    usable: reasons.length === 0,
    faces,
    boxes,
    score: main.score * Math.min(1, width / short / 0.3),
    reasons,
    measurements: {
      face_score: round(main.score),
      face_x: round(main.box.x),
      face_y: round(main.box.y),
      face_width: round(width),
      face_fraction: round(width / short),
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

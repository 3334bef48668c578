import type { Face, RgbImage } from '../models/face-detector';
import type { FaceLandmarks } from '../models/landmarks';
import { reason, type FaceBox, type Reason, type Side, type Verdict } from '../core/photos/verdict';
import { chooseFrame, FRAME_FACE_WIDTHS, headCutOff, MIN_FACE_WIDTHS } from './framing';

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
  /** Output width (HEADSHOT_SIZE): what the framing and the score's face pixels are measured against. */
  headshotSize: number;
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
  headshotSize: 1024,
};

/** Mean luma, variance of the Laplacian (a dark face lifted to mid-grey) and mean chroma over the face box (clipped to the photo). */
export function measureFace(image: RgbImage, box: Face['box']): { luminance: number; sharpness: number; chroma: number } {
  const x0 = Math.max(1, Math.floor(box.x)), y0 = Math.max(1, Math.floor(box.y));
  const x1 = Math.min(image.width - 1, Math.ceil(box.x + box.width)), y1 = Math.min(image.height - 1, Math.ceil(box.y + box.height));
  // Sample on a grid of at most ~200x200 so a 12 MP face costs the same as a small one.
  const step = Math.max(1, Math.floor(Math.max(x1 - x0, y1 - y0) / 200));
  const luma = (x: number, y: number) => {
    const i = (y * image.width + x) * 3;
    return 0.299 * image.data[i] + 0.587 * image.data[i + 1] + 0.114 * image.data[i + 2];
  };
  let sum = 0, n = 0, lapSum = 0, lapSq = 0, chroma = 0;
  for (let y = y0; y < y1; y += step) {
    for (let x = x0; x < x1; x += step) {
      const c = luma(x, y);
      const i = (y * image.width + x) * 3;
      const r = image.data[i], g = image.data[i + 1], b = image.data[i + 2];
      chroma += Math.max(r, g, b) - Math.min(r, g, b);
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
  // Darkening scales every Laplacian by the brightness, so a sharp face in dim light would read as
  // soft: a face darker than mid-grey is measured as if lifted to it (too_dark says what is wrong
  // there). Brighter faces are left as measured, as the threshold was set on them.
  const exposure = Math.max(1, (128 / Math.max(16, mean)) ** 2);
  return { luminance: mean, sharpness: n ? (lapSq / n - lapMean * lapMean) * exposure : 0, chroma: n ? chroma / n / 255 : 0 };
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
  // The head beyond the face: a cut that no allowed head-and-shoulders frame can hide (a little
  // hair past the top edge is framed around and says nothing).
  const fp = landmarks.fivePoint;
  const placement = { box: main.box, eyes: { right: fp.rightEye, left: fp.leftEye } };
  const [head] = headCutOff(placement, image);
  if (head && !side) reasons.push(reason('head_cut_off', head === 'top' ? 'The top of your head is cut off by the top edge of the photo.' : `Your head is cut off by the ${head} edge of the photo.`, { side: head }));
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
  const frame = chooseFrame(placement, image, t.headshotSize);
  const chin = landmarks.points[CHIN];
  const parts = scoreParts({
    faceWidth: width,
    sharpness: m.sharpness,
    turned,
    openness,
    headInFrame: !head && !side,
    chinRoom: (image.height - chin.y) / width,
    frameFaceWidths: frame.faceWidths,
    chroma: m.chroma,
  }, t);
  return {
    usable: reasons.length === 0,
    faces,
    boxes,
    score: round(Object.entries(parts).reduce((sum, [k, v]) => sum + SCORE_WEIGHTS[k as keyof ScoreParts] * v, 0)),
    score_parts: parts,
    fingerprint: fingerprint(image, main.box),
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
      chin_room: round((image.height - chin.y) / width),
      frame_face_widths: round(frame.faceWidths),
    },
  };
}

/** Face widths the fingerprint spans around the face. */
const FINGERPRINT_SPAN = 1.6;
/** FaceMesh's chin point. */
const CHIN = 152;

/**
 * What makes a photo a good headshot source, each 0..1 (1 best), from measured things: face
 * pixels without upscaling, sharpness, a frontal pose, open eyes, the whole head in the photo,
 * room below the chin for the shoulders, and how wide a head-and-shoulders frame fits.
 */
export type ScoreParts = {
  face_pixels: number;
  sharpness: number;
  frontal: number;
  eyes_open: number;
  head_in_frame: number;
  room_below_chin: number;
  frame_width: number;
  colour: number;
};

/** Weights of the parts in the score (they add up to 1). */
export const SCORE_WEIGHTS: ScoreParts = { face_pixels: 0.25, sharpness: 0.2, frontal: 0.1, eyes_open: 0.1, head_in_frame: 0.1, room_below_chin: 0.1, frame_width: 0.1, colour: 0.05 };

/** Face widths between the chin and the photo's bottom that a full 4:5 head-and-shoulders frame shows. */
const CHIN_ROOM_NEEDED = 1.5;
/** Mean chroma (max - min channel, 0..1) of a face in colour; skin measures 0.1-0.3, greyscale 0. */
const COLOURFUL = 0.06;
/** Sharpness (variance of the Laplacian) of a crisp face; the blurred threshold is the floor. */
const SHARP_ENOUGH = 400;

export function scoreParts(
  m: { faceWidth: number; sharpness: number; turned: number; openness: number; headInFrame: boolean; chinRoom: number; frameFaceWidths: number; chroma: number },
  t: QualityThresholds,
): ScoreParts {
  const clamp = (v: number) => round(Math.max(0, Math.min(1, v)));
  // The face width a headshot shows at its own size: above it nothing is enlarged.
  const native = t.headshotSize / FRAME_FACE_WIDTHS;
  return {
    face_pixels: clamp(m.faceWidth / native),
    sharpness: clamp(Math.log(Math.max(1, m.sharpness) / t.minSharpness) / Math.log(SHARP_ENOUGH / t.minSharpness)),
    frontal: clamp(1 - m.turned / t.maxHeadTurn),
    eyes_open: clamp(m.openness / 0.25),
    head_in_frame: m.headInFrame ? 1 : 0,
    room_below_chin: clamp(m.chinRoom / CHIN_ROOM_NEEDED),
    frame_width: clamp((m.frameFaceWidths - MIN_FACE_WIDTHS) / (FRAME_FACE_WIDTHS - MIN_FACE_WIDTHS)),
    // The styles grade colour: a greyscale copy makes a greyscale headshot.
    colour: clamp(m.chroma / COLOURFUL),
  };
}

/**
 * A 64-bit difference hash of the luma around the face (a square FINGERPRINT_SPAN face widths
 * wide, in 9x8 cells; each bit: is a cell brighter than its right neighbour), as 16 hex digits.
 * Centred on the face, it is the same for copies of one photo however they were re-encoded,
 * resized, turned grey or cropped, so an order counts them once; another shot differs.
 */
export function fingerprint(image: RgbImage, box: Face['box']): string {
  const { width, height, data } = image;
  const side = box.width * FINGERPRINT_SPAN;
  const left = box.x + box.width / 2 - side / 2, top = box.y + box.height / 2 - side / 2;
  const cells = new Float64Array(9 * 8);
  for (let cy = 0; cy < 8; cy++) {
    for (let cx = 0; cx < 9; cx++) {
      // 8x8 samples a cell: the same cost for 12 MP as for 512 px; outside the photo is skipped.
      let sum = 0, n = 0;
      for (let j = 0; j < 8; j++) {
        for (let k = 0; k < 8; k++) {
          const x = Math.floor(left + ((cx + (k + 0.5) / 8) * side) / 9), y = Math.floor(top + ((cy + (j + 0.5) / 8) * side) / 8);
          if (x < 0 || y < 0 || x >= width || y >= height) continue;
          const i = (y * width + x) * 3;
          sum += 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
          n++;
        }
      }
      cells[cy * 9 + cx] = n ? sum / n : 0;
    }
  }
  let hex = '';
  for (let cy = 0; cy < 8; cy++) {
    let byte = 0;
    for (let cx = 0; cx < 8; cx++) byte = (byte << 1) | (cells[cy * 9 + cx] > cells[cy * 9 + cx + 1] ? 1 : 0);
    hex += byte.toString(16).padStart(2, '0');
  }
  return hex;
}

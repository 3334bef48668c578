import type { EyesReading } from '../models/eyes';
import type { Face, RgbImage } from '../models/face-detector';
import type { FaceLandmarks } from '../models/landmarks';
import {
  advice,
  reason,
  type Advice,
  type FaceBox,
  type Reason,
  type Side,
  type Verdict,
} from '../core/photos/verdict';
import { chooseFrame, FRAME_FACE_WIDTHS, headCutOff, MIN_FACE_WIDTHS } from './framing';

/**
 * The quality verdict (SD1): every reason that stops the photo and every piece of advice on a
 * usable one, each with a stable code and a plain sentence, plus the measured values, so a person
 * knows what to retake and why. The limits were set on the labelled set of real photographs
 * (test/fixtures/real, `npm run bench:verdicts`); docs/pipeline.md gives the figures behind each.
 */
export interface QualityThresholds {
  /** A second face counts when its box is at least this fraction of the largest face's width. */
  dominantFaceRatio: number;
  /** Face width in source pixels the framing needs (with ESRGAN's x4 at most; see facePixelsNeeded). */
  minFacePixels: number;
  /** Detail at the face's own scale (measureFace) below this: blurred. */
  minSharpness: number;
  /** Detail below this (and at least minSharpness): advice, slightly soft. */
  softBelow: number;
  /** The lit part of the face (90th percentile of its luma) below this: too dark. Not the mean, which is low for dark skin in good light. */
  minLuminance: number;
  /** Mean luma of the face above this: over-exposed. */
  maxLuminance: number;
  /** Yaw beyond this many degrees is 'turned away' (a three-quarter turn measures 25-32). */
  maxHeadTurn: number;
  /** Pitch (up or down) beyond this many degrees is 'turned away'. */
  maxHeadPitch: number;
  /** Lid gap over eye width (iris model, the nearer eye weighing more) below this: eyes closed. */
  eyesClosedBelow: number;
  /** ... below this (and open): advice, eyes half closed. */
  eyesHalfClosedBelow: number;
  /** Eyes turned from the camera beyond this many degrees (head and eyes together): looking away. */
  maxGaze: number;
  /** Roll beyond this many degrees in an upright photo: the head is tilted too far to level well. */
  maxRoll: number;
  /** Output width (HEADSHOT_SIZE): what the framing and the score's face pixels are measured against. */
  headshotSize: number;
}

export const DEFAULT_THRESHOLDS: QualityThresholds = {
  dominantFaceRatio: 0.6,
  minFacePixels: 92,
  minSharpness: 120,
  softBelow: 140,
  minLuminance: 70,
  maxLuminance: 205,
  maxHeadTurn: 40,
  maxHeadPitch: 30,
  eyesClosedBelow: 0.2,
  eyesHalfClosedBelow: 0.25,
  maxGaze: 35,
  maxRoll: 25,
  headshotSize: 1024,
};

/** The face's middle (this fraction of its box, centred) is where sharpness and light are measured: eyes, nose, mouth, not hair or background. */
const INNER = 0.7;
/**
 * Side of the square the middle of the face is resampled to before sharpness is measured: a little
 * below the middle of the smallest face a headshot is made from (minFacePixels 92 px, middle 64 px),
 * so no usable face is enlarged before it is measured, and every face is asked for the detail the
 * smallest usable one has.
 */
const DETAIL_SIZE = 48;
/** At most this many samples a side average into one resampled pixel (enough against aliasing: a 12-MP face is about 16 times DETAIL_SIZE). */
const MAX_SUPERSAMPLING = 8;
/** The face's middle is measured at its own size too (measureFace's `native`), up to this many pixels (a 12-MP selfie's is about 560, averaged down to it: the cost stays a few ms). */
const NATIVE_SIZE = 320;
/** A face this flat (mean squared gradient, luma levels) has no edges to measure: sharpness 0. */
const MIN_GRADIENT = 1;

const luma = (data: Buffer | Uint8Array, i: number) => 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];

/** The middle of a face box (INNER of it, centred). */
function innerBox(box: Face['box']): Face['box'] {
  const dx = (box.width * (1 - INNER)) / 2,
    dy = (box.height * (1 - INNER)) / 2;
  return { x: box.x + dx, y: box.y + dy, width: box.width * INNER, height: box.height * INNER };
}

/** The photo's luma over a box (clipped to the photo, one pixel of margin), computed once for both passes of measureFace. */
interface LumaPlane {
  L: Float32Array;
  x0: number;
  y0: number;
  w: number;
  h: number;
}

function lumaPlane(image: RgbImage, box: Face['box']): LumaPlane {
  const x0 = Math.max(0, Math.min(image.width - 1, Math.floor(box.x) - 1)),
    y0 = Math.max(0, Math.min(image.height - 1, Math.floor(box.y) - 1));
  const x1 = Math.max(x0 + 1, Math.min(image.width, Math.ceil(box.x + box.width) + 1)),
    y1 = Math.max(y0 + 1, Math.min(image.height, Math.ceil(box.y + box.height) + 1));
  const w = x1 - x0,
    h = y1 - y0;
  const L = new Float32Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) L[y * w + x] = luma(image.data, ((y + y0) * image.width + x + x0) * 3);
  return { L, x0, y0, w, h };
}

/**
 * The box resampled to size x size luma: each pixel the mean of a grid of bilinear samples over its
 * footprint, so a large face is averaged down (not aliased) and a small one is enlarged; either way
 * the result holds the detail of the face at one fixed scale.
 */
function faceLuma(plane: LumaPlane, box: Face['box'], size = DETAIL_SIZE): Float32Array {
  const { L, x0: ox, y0: oy, w, h } = plane;
  const out = new Float32Array(size * size);
  const kx = box.width / size,
    ky = box.height / size;
  const n = Math.min(MAX_SUPERSAMPLING, Math.max(1, Math.ceil(Math.max(kx, ky))));
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      let sum = 0;
      for (let j = 0; j < n; j++) {
        const Y = Math.max(0, Math.min(h - 1, box.y - oy + (v + (j + 0.5) / n) * ky - 0.5));
        const y0 = Math.floor(Y),
          y1 = Math.min(h - 1, y0 + 1),
          fy = Y - y0;
        for (let i = 0; i < n; i++) {
          const X = Math.max(0, Math.min(w - 1, box.x - ox + (u + (i + 0.5) / n) * kx - 0.5));
          const x0 = Math.floor(X),
            x1 = Math.min(w - 1, x0 + 1),
            fx = X - x0;
          const a = L[y0 * w + x0],
            b = L[y0 * w + x1],
            c = L[y1 * w + x0],
            d = L[y1 * w + x1];
          sum += (a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy;
        }
      }
      out[v * size + u] = sum / (n * n);
    }
  }
  return out;
}

/**
 * Over the middle of the face: mean luma, detail (sharpness), mean chroma and how unevenly it is
 * lit. Sharpness is the variance of the Laplacian over the mean squared gradient (x100), on the
 * face resampled to DETAIL_SIZE (faceLuma): measured at the face's own scale, the same photo gives
 * the same figure at any size and an enlarged soft photo stays soft; and as a ratio of second to
 * first derivatives it asks how abrupt the face's edges are, not how much contrast or texture it
 * has, so a smooth, evenly lit face is not taken for a soft one (about 180 for the studio portrait,
 * 130-230 for sharp faces in party photos, under 120 for visibly soft ones). `highlight` is the 90th
 * percentile of the luma (the lit part of the face); `evenness` the darker half's mean luma over the
 * brighter half's (left and right of the face's middle).
 */
export function measureFace(
  image: RgbImage,
  box: Face['box'],
): { luminance: number; highlight: number; sharpness: number; native: number; chroma: number; evenness: number } {
  const inner = innerBox(box);
  const plane = lumaPlane(image, inner);
  const L = faceLuma(plane, inner);
  const S = DETAIL_SIZE;
  let mean = 0,
    left = 0,
    right = 0;
  for (let v = 0; v < S; v++) {
    for (let u = 0; u < S; u++) {
      const c = L[v * S + u];
      mean += c;
      if (u < S / 2) left += c;
      else right += c;
    }
  }
  mean /= S * S;
  // The same measure on the face's middle at its own pixel size (at most NATIVE_SIZE): low where the
  // pixels were made up by enlarging, so ranking does not count them as detail.
  const own = Math.max(DETAIL_SIZE, Math.min(NATIVE_SIZE, Math.round(inner.width)));
  // Chroma on a coarse grid of the photo's own pixels (colour needs no resampling).
  const x0 = Math.max(0, Math.floor(inner.x)),
    y0 = Math.max(0, Math.floor(inner.y));
  const x1 = Math.min(image.width, Math.ceil(inner.x + inner.width)),
    y1 = Math.min(image.height, Math.ceil(inner.y + inner.height));
  const step = Math.max(1, Math.floor(Math.max(x1 - x0, y1 - y0) / 64));
  let chroma = 0,
    cn = 0;
  for (let y = y0; y < y1; y += step) {
    for (let x = x0; x < x1; x += step) {
      const i = (y * image.width + x) * 3;
      chroma +=
        Math.max(image.data[i], image.data[i + 1], image.data[i + 2]) -
        Math.min(image.data[i], image.data[i + 1], image.data[i + 2]);
      cn++;
    }
  }
  return {
    luminance: mean,
    highlight: L.slice().sort()[Math.floor(0.9 * (L.length - 1))],
    sharpness: edgeDetail(L, S),
    native: own === S ? edgeDetail(L, S) : edgeDetail(faceLuma(plane, inner, own), own),
    chroma: cn ? chroma / cn / 255 : 0,
    evenness: Math.max(left, right) > 0 ? Math.min(left, right) / Math.max(left, right) : 1,
  };
}

/** Variance of the Laplacian over the mean squared gradient (x100) of S x S luma; 0 for a flat patch. */
function edgeDetail(L: Float32Array, S: number): number {
  let grad = 0,
    lapSum = 0,
    lapSq = 0,
    n = 0;
  for (let v = 0; v < S; v++) {
    for (let u = 0; u < S; u++) {
      const c = L[v * S + u];
      if (u < S - 1 && v < S - 1) grad += (L[v * S + u + 1] - c) ** 2 + (L[(v + 1) * S + u] - c) ** 2;
      if (u === 0 || v === 0 || u === S - 1 || v === S - 1) continue;
      const lap = L[v * S + u - 1] + L[v * S + u + 1] + L[(v - 1) * S + u] + L[(v + 1) * S + u] - 4 * c;
      lapSum += lap;
      lapSq += lap * lap;
      n++;
    }
  }
  grad /= (S - 1) * (S - 1);
  const lapMean = lapSum / n;
  return grad >= MIN_GRADIENT ? (100 * (lapSq / n - lapMean * lapMean)) / grad : 0;
}

/** The largest face: the subject when one face clearly dominates the photo. */
export function mainFace<T extends { face: Face }>(faces: T[]): T {
  return faces.reduce((a, b) => (b.face.box.width > a.face.box.width ? b : a));
}

/**
 * Degrees clockwise the face's down direction (eyes to mouth, from the detector's keypoints) is
 * turned from the photo's down, -180..180: about 0 for an upright face, the tilt for a tilted head.
 * (FaceMesh's roll cannot tell a turned photo: its crop is levelled on the detector's eyes, which an
 * upside-down face swaps.)
 */
export function faceAngle(face: Face): number {
  const k = face.keypoints;
  const down = { x: k.mouth.x - (k.leftEye.x + k.rightEye.x) / 2, y: k.mouth.y - (k.leftEye.y + k.rightEye.y) / 2 };
  return (Math.atan2(-down.x, down.y) * 180) / Math.PI;
}

/**
 * A face more than this many degrees from upright is a photo turned on its side (or upside down),
 * not a head tilted in an upright photo: people tilt their heads up to about 45° (the strongest tilt
 * in the labelled set measures 47°), and a photo turned 90° with the head tilted up to 30° within it
 * still reads beyond it.
 */
export const SIDEWAYS_FROM = 60;

/** Degrees clockwise the photo is turned from upright (0, 90, 180 or 270), judged from the face: a tilted head is 0. */
export function uprightTurn(face: Face): number {
  const a = faceAngle(face);
  if (Math.abs(a) <= SIDEWAYS_FROM) return 0;
  return (((Math.round(a / 90) * 90) % 360) + 360) % 360;
}

/** Which edge of the photo cuts the face, if any: its box or a landmark outside by more than a margin. */
export function cutSide(
  image: { width: number; height: number },
  face: Face,
  points: { x: number; y: number }[],
): Side | undefined {
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

/** Fraction of a box inside the photo. */
export function insideFraction(box: Face['box'], image: { width: number; height: number }): number {
  const w = Math.max(0, Math.min(image.width, box.x + box.width) - Math.max(0, box.x));
  const h = Math.max(0, Math.min(image.height, box.y + box.height) - Math.max(0, box.y));
  return (w * h) / Math.max(1e-6, box.width * box.height);
}

/** A neighbour's face counts as another person in the photo when this much of its box is inside it (a face cut in half by the edge is cropped away by the framing). */
const OTHER_FACE_INSIDE = 0.7;

/**
 * The detector's eyes this close together (over its box width) are one eye and the bridge of the
 * nose: a face in profile. A frontal face measures about 0.42, a three-quarter turn 0.31-0.40, a
 * profile 0.03 (FaceMesh cannot represent a profile: it reads one as a 20-30° turn).
 */
const PROFILE_EYE_SPAN = 0.2;
const isProfile = (face: Face) =>
  Math.hypot(
    face.keypoints.leftEye.x - face.keypoints.rightEye.x,
    face.keypoints.leftEye.y - face.keypoints.rightEye.y,
  ) <
  PROFILE_EYE_SPAN * face.box.width;

export interface Found {
  face: Face;
  landmarks: FaceLandmarks;
  /** The iris model's reading of the eyes (the subject's; other faces go without). */
  eyes?: EyesReading;
}

const round = (v: number) => Math.round(v * 1000) / 1000;
const boxOf = (f: Face): FaceBox => ({
  x: Math.round(f.box.x),
  y: Math.round(f.box.y),
  width: Math.round(f.box.width),
  height: Math.round(f.box.height),
  score: round(f.score),
});
const DEG = 180 / Math.PI;

/** Lid gap and gaze from both eyes, the nearer (wider) eye weighing more: the far eye of a turned head is foreshortened and often hidden. */
export function eyeMeasures(eyes: EyesReading, yaw: number): { openness: number; gaze: number } {
  const w = [eyes.right.width ** 2, eyes.left.width ** 2];
  const total = w[0] + w[1] || 1;
  const openness = (w[0] * eyes.right.openness + w[1] * eyes.left.openness) / total;
  // The iris's offset from the eye's middle towards the image's right, in eye widths, becomes the
  // eye's turn in the head (an eyeball's radius is about 0.4 eye widths); added to the head's yaw
  // it is where the eyes look: about 0 into the camera.
  const offset = (w[0] * (eyes.right.iris.x - 0.5) + w[1] * (0.5 - eyes.left.iris.x)) / total;
  const eyeTurn = Math.asin(Math.max(-1, Math.min(1, offset / 0.4))) * DEG;
  return { openness, gaze: yaw + eyeTurn };
}

/** Why a face the detector is sure of cannot be read by FaceMesh, when a measure says so. */
function unreadFace(image: RgbImage, face: Face, t: QualityThresholds): Verdict | undefined {
  const m = measureFace(image, face.box);
  const base = {
    usable: false,
    faces: 1,
    boxes: [boxOf(face)],
    advice: [] as Advice[],
    measurements: { sharpness: round(m.sharpness), luminance: round(m.luminance), face_score: round(face.score) },
  };
  if (isProfile(face))
    return {
      ...base,
      reasons: [
        reason(
          'turned_away',
          'Your face is turned to the side (in profile), so it cannot be read; a slight turn is fine.',
        ),
      ],
    };
  if (m.sharpness < t.minSharpness)
    return {
      ...base,
      reasons: [
        reason(
          'blurred',
          `The photo is too blurred to make out a face (sharpness ${Math.round(m.sharpness)}; a clear face measures ${t.minSharpness} or more).`,
          { measured: round(m.sharpness), required: t.minSharpness },
        ),
      ],
    };
  if (m.highlight < t.minLuminance)
    return {
      ...base,
      reasons: [
        reason(
          'too_dark',
          `Your face is too dark to read (its lit part measures ${Math.round(m.highlight)} of 255; at least ${t.minLuminance}).`,
          { measured: Math.round(m.highlight), required: t.minLuminance },
        ),
      ],
    };
  return undefined;
}

/**
 * The verdict for the faces FaceMesh confirmed (largest is the subject). With none confirmed,
 * `unread` is a place the detector is sure is a face but FaceMesh cannot read: the verdict then
 * says why (in profile, blurred, too dark) with its box, and is 'no face' only when nothing does.
 */
export function judge(
  image: RgbImage,
  found: Found[],
  t: QualityThresholds = DEFAULT_THRESHOLDS,
  unread?: Face,
): Verdict {
  if (!found.length) {
    const why = unread && unreadFace(image, unread, t);
    return (
      why ?? {
        usable: false,
        faces: 0,
        boxes: [],
        reasons: [reason('no_face', 'We could not find a face in this photo.')],
        advice: [],
      }
    );
  }
  const subject = mainFace(found);
  const { face: main, landmarks } = subject;
  const others = found.filter(
    (f) =>
      f !== subject &&
      f.face.box.width >= t.dominantFaceRatio * main.box.width &&
      insideFraction(f.face.box, image) >= OTHER_FACE_INSIDE,
  );
  const boxes = [subject, ...others].map((f) => boxOf(f.face));
  const faces = 1 + others.length;
  const angle = faceAngle(main);
  const turn = uprightTurn(main);
  if (turn !== 0) {
    // Measurements of a face lying on its side would be of the wrong axes: this is the one reason.
    const how = turn === 180 ? 'upside down' : `turned ${turn}° clockwise`;
    return {
      usable: false,
      faces,
      boxes,
      reasons: [reason('rotated', `The photo is ${how}, so your face is not upright.`, { angle: turn })],
      advice: [],
      measurements: { rotation: turn, face_angle: round(angle) },
    };
  }
  // In order of what to fix first: who and where the face is, then how it is turned, then the eyes, then the light.
  const reasons: Reason[] = [];
  const tips: Advice[] = [];
  if (others.length)
    reasons.push(
      reason('several_faces', `There are ${faces} faces in this photo; a headshot needs you alone.`, {
        measured: faces,
        required: 1,
      }),
    );
  const width = main.box.width;
  if (width < t.minFacePixels) {
    reasons.push(
      reason(
        'face_too_small',
        `Your face is ${Math.round(width)} px wide in this photo; a headshot needs at least ${t.minFacePixels} px.`,
        { measured: Math.round(width), required: t.minFacePixels },
      ),
    );
  }
  const side = cutSide(image, main, landmarks.points);
  if (side) reasons.push(reason('face_cut_off', `Your face is cut off by the ${side} edge of the photo.`, { side }));
  // The head beyond the face: a cut that no allowed head-and-shoulders frame can hide (a little
  // hair past the top edge is framed around and says nothing).
  const fp = landmarks.fivePoint;
  const placement = { box: main.box, eyes: { right: fp.rightEye, left: fp.leftEye } };
  const [head] = headCutOff(placement, image);
  if (head && !side)
    reasons.push(
      reason(
        'head_cut_off',
        head === 'top'
          ? 'The top of your head is cut off by the top edge of the photo.'
          : `Your head is cut off by the ${head} edge of the photo.`,
        { side: head },
      ),
    );
  const { yaw, pitch, roll } = landmarks.pose;
  if (isProfile(main))
    reasons.push(
      reason('turned_away', 'Your face is turned to the side (in profile); a slight turn is fine, a profile is not.'),
    );
  else if (Math.abs(yaw) > t.maxHeadTurn)
    reasons.push(
      reason(
        'turned_away',
        `Your head is turned ${Math.round(Math.abs(yaw))}° to the side; a slight turn is fine, up to ${t.maxHeadTurn}°.`,
        { measured: Math.round(Math.abs(yaw)), required: t.maxHeadTurn },
      ),
    );
  else if (Math.abs(pitch) > t.maxHeadPitch)
    reasons.push(
      reason(
        'turned_away',
        `Your head is tipped ${Math.round(Math.abs(pitch))}° ${pitch < 0 ? 'down' : 'up'}; at most ${t.maxHeadPitch}°.`,
        { measured: Math.round(Math.abs(pitch)), required: t.maxHeadPitch },
      ),
    );
  if (Math.abs(roll) > t.maxRoll) {
    reasons.push(
      reason(
        'head_tilted',
        `Your head is tilted ${Math.round(Math.abs(roll))}° to one side; the headshot levels a tilt up to ${t.maxRoll}°.`,
        { angle: Math.round(roll), measured: Math.round(Math.abs(roll)), required: t.maxRoll },
      ),
    );
  }
  // Eyes: the iris model's lids when it ran, else FaceMesh's (which reads lowered lids as open).
  const eye = subject.eyes
    ? eyeMeasures(subject.eyes, yaw)
    : { openness: Math.min(landmarks.eyeOpenness.left, landmarks.eyeOpenness.right), gaze: 0 };
  if (eye.openness < t.eyesClosedBelow) {
    reasons.push(
      reason(
        'eyes_closed',
        `Your eyes look closed or lowered in this photo (opening ${eye.openness.toFixed(2)} of the eye's width; open eyes measure ${t.eyesClosedBelow} or more).`,
        { measured: round(eye.openness), required: t.eyesClosedBelow },
      ),
    );
  } else if (Math.abs(eye.gaze) > t.maxGaze) {
    reasons.push(
      reason(
        'looking_away',
        `You are looking ${Math.round(Math.abs(eye.gaze))}° away from the camera; at most ${t.maxGaze}°.`,
        { measured: Math.round(Math.abs(eye.gaze)), required: t.maxGaze },
      ),
    );
  } else if (eye.openness < t.eyesHalfClosedBelow) {
    tips.push(
      advice(
        'eyes_half_closed',
        `Your eyes look half closed (opening ${eye.openness.toFixed(2)} of the eye's width; wide open is ${t.eyesHalfClosedBelow} or more).`,
        { measured: round(eye.openness), required: t.eyesHalfClosedBelow },
      ),
    );
  }
  const m = measureFace(image, main.box);
  if (m.sharpness < t.minSharpness) {
    reasons.push(
      reason(
        'blurred',
        `Your face is blurred (sharpness ${Math.round(m.sharpness)}; a clear face measures ${t.minSharpness} or more).`,
        { measured: round(m.sharpness), required: t.minSharpness },
      ),
    );
  } else if (m.sharpness < t.softBelow) {
    tips.push(
      advice(
        'slightly_soft',
        `Your face is a little soft (sharpness ${Math.round(m.sharpness)}; crisp is ${t.softBelow} or more).`,
        { measured: round(m.sharpness), required: t.softBelow },
      ),
    );
  }
  if (m.highlight < t.minLuminance)
    reasons.push(
      reason(
        'too_dark',
        `Your face is too dark (its lit part measures ${Math.round(m.highlight)} of 255; at least ${t.minLuminance}).`,
        { measured: Math.round(m.highlight), required: t.minLuminance },
      ),
    );
  if (m.luminance > t.maxLuminance)
    reasons.push(
      reason(
        'too_bright',
        `Your face is over-exposed (brightness ${Math.round(m.luminance)} of 255; at most ${t.maxLuminance}).`,
        { measured: Math.round(m.luminance), required: t.maxLuminance },
      ),
    );
  if (m.evenness < UNEVEN_BELOW)
    tips.push(
      advice(
        'uneven_light',
        `One side of your face is much darker than the other (${Math.round(m.evenness * 100)} % of its brightness).`,
        { measured: round(m.evenness), required: UNEVEN_BELOW },
      ),
    );
  const turned = Math.max(Math.abs(yaw), Math.abs(pitch));
  const short = Math.min(image.width, image.height);
  const frame = chooseFrame(placement, image, t.headshotSize);
  const chin = landmarks.points[CHIN_POINT];
  const parts = scoreParts(
    {
      faceWidth: width,
      sharpness: m.native,
      turned,
      openness: eye.openness,
      headInFrame: !head && !side,
      chinRoom: (image.height - chin.y) / width,
      frameFaceWidths: frame.faceWidths,
      chroma: m.chroma,
    },
    t,
  );
  return {
    usable: reasons.length === 0,
    faces,
    boxes,
    score: round(
      Object.entries(parts).reduce((sum, [k, v]) => sum + SCORE_WEIGHTS[k as keyof ScoreParts] * v, 0) -
        ADVICE_PENALTY * tips.length,
    ),
    score_parts: parts,
    fingerprint: fingerprint(image, main.box),
    reasons,
    advice: tips,
    measurements: {
      face_score: round(main.score),
      face_x: round(main.box.x),
      face_y: round(main.box.y),
      face_width: round(width),
      face_fraction: round(width / short),
      sharpness: round(m.sharpness),
      native_sharpness: round(m.native),
      luminance: round(m.luminance),
      highlight: round(m.highlight),
      evenness: round(m.evenness),
      presence: round(landmarks.presence),
      yaw: round(yaw),
      pitch: round(pitch),
      roll: round(roll),
      face_angle: round(angle),
      eye_openness: round(eye.openness),
      gaze: round(eye.gaze),
      chin_room: round((image.height - chin.y) / width),
      frame_face_widths: round(frame.faceWidths),
    },
  };
}

/** One side of the face's middle this much darker than the other (mean luma ratio): a strong shadow. */
const UNEVEN_BELOW = 0.55;
/** Each piece of advice lowers the score by this much, so ranking hears it too. */
const ADVICE_PENALTY = 0.02;

/** Face widths the fingerprint spans around the face. */
const FINGERPRINT_SPAN = 1.6;
/** FaceMesh's chin point: its index in the mesh. */
const CHIN_POINT = 152;

/**
 * What makes a photo a good headshot source, each 0..1 (1 best), from measured things: face
 * pixels without upscaling, sharpness, a frontal pose (a three-quarter turn is accepted but ranks
 * below a frontal one), open eyes, the whole head in the photo,
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
export const SCORE_WEIGHTS: ScoreParts = {
  face_pixels: 0.25,
  sharpness: 0.2,
  frontal: 0.1,
  eyes_open: 0.1,
  head_in_frame: 0.1,
  room_below_chin: 0.1,
  frame_width: 0.1,
  colour: 0.05,
};

/** Face widths between the chin and the photo's bottom that a full 4:5 head-and-shoulders frame shows. */
const CHIN_ROOM_NEEDED = 1.5;
/** Mean chroma (max - min channel, 0..1) of a face in colour; skin measures 0.1-0.3, greyscale 0. */
const COLOURFUL = 0.06;
/**
 * The score's sharpness part is the detail at the face's own pixel size (measureFace's `native`),
 * not the verdict's fixed-size figure: enlarging keeps the verdict (the same photo) but makes up
 * pixels, so an enlarged copy must not outrank its original on face pixels. Natively: the studio
 * portrait 131, phone photos 50-90, the portrait enlarged 2x 55, blurred with sigma 1.2 39.
 */
const NATIVE_SOFT = 40;
const NATIVE_SHARP = 130;

export function scoreParts(
  m: {
    faceWidth: number;
    sharpness: number;
    turned: number;
    openness: number;
    headInFrame: boolean;
    chinRoom: number;
    frameFaceWidths: number;
    chroma: number;
  },
  t: QualityThresholds,
): ScoreParts {
  const clamp = (v: number) => round(Math.max(0, Math.min(1, v)));
  // The face width a headshot shows at its own size: above it nothing is enlarged.
  const native = t.headshotSize / FRAME_FACE_WIDTHS;
  return {
    face_pixels: clamp(m.faceWidth / native),
    sharpness: clamp(Math.log(Math.max(1, m.sharpness) / NATIVE_SOFT) / Math.log(NATIVE_SHARP / NATIVE_SOFT)),
    frontal: clamp(1 - m.turned / t.maxHeadTurn),
    eyes_open: clamp(m.openness / 0.3),
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
  const left = box.x + box.width / 2 - side / 2,
    top = box.y + box.height / 2 - side / 2;
  const cells = new Float64Array(9 * 8);
  for (let cy = 0; cy < 8; cy++) {
    for (let cx = 0; cx < 9; cx++) {
      // 8x8 samples a cell: the same cost for 12 MP as for 512 px; outside the photo is skipped.
      let sum = 0,
        n = 0;
      for (let j = 0; j < 8; j++) {
        for (let k = 0; k < 8; k++) {
          const x = Math.floor(left + ((cx + (k + 0.5) / 8) * side) / 9),
            y = Math.floor(top + ((cy + (j + 0.5) / 8) * side) / 8);
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

import type { Point } from './pixels';

/**
 * A photo's quality verdict (SD1), as stored on the photo and shown by the API: every reason that
 * stops the photo (`reasons`) and every piece of advice on a photo that can be used as it is
 * (`advice`), each with a stable code, a sentence that says what was measured, and a hint a person
 * can act on. Only reasons stop an order; ranking weighs both. The codes and hints are part of the
 * API contract (listed in the OpenAPI document).
 */

export const REASON_HINTS = {
  no_face: 'Take a photo of your face looking at the camera, in good light.',
  several_faces: 'Use a photo of you alone, or crop the other people out.',
  face_too_small: 'Move closer to the camera, or upload the photo at its full resolution.',
  face_cut_off: 'Step back or re-aim the camera so that your whole face is in the picture.',
  head_cut_off: 'Leave some space above your head and beside it.',
  blurred: 'Hold the phone still, tap your face to focus, or use more light.',
  too_dark: 'Face a window or a lamp so that light falls on your face.',
  too_bright: 'Move out of direct sun and turn off the flash.',
  turned_away: 'Turn your face towards the camera; a slight turn is fine.',
  head_tilted: 'Hold your head level and the camera upright.',
  eyes_closed: 'Look into the camera with your eyes open.',
  looking_away: 'Look into the camera with your eyes open.',
  rotated: 'Turn the photo upright and upload it again.',
  corrupt_image: 'Export the photo again from your phone or camera and upload that file.',
} as const;

export type ReasonCode = keyof typeof REASON_HINTS;
export const REASON_CODES = Object.keys(REASON_HINTS) as ReasonCode[];

/** Advice on a usable photo: said, never a reason to refuse it. */
export const ADVICE_HINTS = {
  slightly_soft: 'A sharper photo gives a crisper headshot: hold the phone still and tap your face to focus.',
  eyes_half_closed: 'Your eyes look half closed; a photo with your eyes wide open looks more awake.',
  uneven_light: 'One side of your face is in shadow; face a window or a lamp for even light.',
} as const;

export type AdviceCode = keyof typeof ADVICE_HINTS;
export const ADVICE_CODES = Object.keys(ADVICE_HINTS) as AdviceCode[];

export type Side = 'top' | 'bottom' | 'left' | 'right';

export interface Reason<C extends string = ReasonCode> {
  code: C;
  /** What was found, in plain words, with the figure behind it. */
  message: string;
  /** One sentence on what to do about it. */
  hint: string;
  /** face_cut_off, head_cut_off: the edge of the photo that cuts it. */
  side?: Side;
  /** rotated: degrees clockwise the photo is turned from upright (90, 180 or 270); head_tilted: the head's tilt. */
  angle?: number;
  /** The measured figure and the one needed (face_too_small in px, blurred in sharpness, ...). */
  measured?: number;
  required?: number;
}

export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
  score: number;
}

export interface Verdict {
  usable: boolean;
  faces: number;
  /** Each face found, largest first, in the prepared photo's pixels. */
  boxes?: FaceBox[];
  /** How good a headshot source the photo is, 0..1: the weighted sum of score_parts (worker/quality.ts). */
  score?: number;
  score_parts?: Record<string, number>;
  /** Difference hash of the photo (16 hex digits): near-duplicates count once in an order. Not shown by the API. */
  fingerprint?: string;
  /** Every reason that stops the photo, the main one first; usable exactly when empty. */
  reasons: Reason[];
  /** What would make the photo better without stopping it (slightly soft, eyes half closed, uneven light). Absent on verdicts stored before advice existed. */
  advice?: Advice[];
  measurements?: Record<string, number>;
}

export type Advice = Reason<AdviceCode>;

export function reason(
  code: ReasonCode,
  message: string,
  extra: Omit<Reason, 'code' | 'message' | 'hint'> = {},
): Reason {
  return { code, message, hint: REASON_HINTS[code], ...extra };
}

export function advice(
  code: AdviceCode,
  message: string,
  extra: Omit<Advice, 'code' | 'message' | 'hint'> = {},
): Advice {
  return { code, message, hint: ADVICE_HINTS[code], ...extra };
}

/** A verdict's reasons as shown to a person: each with its hint (verdicts stored before hints existed get theirs here). */
export function reasonsOf(verdict: Verdict | null): Reason[] {
  return (verdict?.reasons ?? []).map((r) => ({ ...r, hint: r.hint ?? REASON_HINTS[r.code] ?? '' }));
}

/** The verdict of a file that passed the check at the door but could not be decoded at full size. */
export const UNDECODABLE_VERDICT: Verdict = {
  usable: false,
  faces: 0,
  reasons: [reason('corrupt_image', 'The image is damaged and could not be decoded at full size.')],
};

/** FaceMesh's five points of a face: where skin smoothing and the key light act, and what the face-true check follows. */
export interface FivePoints {
  rightEye: Point;
  leftEye: Point;
  nose: Point;
  mouthRight: Point;
  mouthLeft: Point;
}

/** The subject's face as analysis found it in the stored photo: what framing places a headshot from. */
export interface FaceGeometry {
  box: { x: number; y: number; width: number; height: number };
  eyes: { right: Point; left: Point };
  /** FaceMesh five points in the original: where skin smoothing and the key light act. */
  fivePoint?: FivePoints;
  /** Every other face FaceMesh confirmed in the original, however small: the matte leaves those people out. */
  others?: { x: number; y: number; width: number; height: number }[];
}

/**
 * What a photo's verdict column holds: the verdict, and beside it the subject's geometry (absent
 * with no face, and on rejected photos). Read and written only through core/photos/lifecycle.ts.
 */
export interface StoredVerdict extends Verdict {
  geometry?: FaceGeometry;
}

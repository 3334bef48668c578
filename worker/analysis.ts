import type { Config } from '../core/platform/config';
import type { Verdict } from '../core/photos/verdict';
import { createEyeReader } from '../models/eyes';
import { createFaceDetector, type Face, type RgbImage } from '../models/face-detector';
import { createLandmarker, type Landmarker } from '../models/landmarks';
import type { ModelLogger } from '../models/session';
import { FRAME_FACE_WIDTHS } from './framing';
import {
  DEFAULT_THRESHOLDS,
  insideFraction,
  judge,
  mainFace,
  measureFace,
  uprightTurn,
  type Found,
  type QualityThresholds,
} from './quality';
import type { FaceGeometry } from '../core/photos/verdict';

/** Detections scored at least this are candidates; FaceMesh's presence decides which are faces. */
const CANDIDATE_SCORE = 0.3;
/** A confirmed face the detector is this sure of counts on its own; below it, only when no sure face was found. */
const SURE_SCORE = 0.6;
/** An unconfirmed detection this strong is a face FaceMesh cannot read: the verdict says why when a measure does (blurred, in profile, too dark). */
const UNREAD_CANDIDATE_SCORE = 0.45;
/**
 * The detector must be this much surer of a face on the photo turned round before it counts as
 * upside down (upside-down faces measure 0.24-0.30 surer; a tight crop of a head tilted 40° 0.06),
 * and that face must lie this much inside the photo (turned round, a face cut off at the mouth by
 * the bottom edge reads as a surer face than upright).
 */
const UPSIDE_DOWN_MARGIN = 0.1;
const UPSIDE_DOWN_INSIDE = 0.9;
/** At most this many candidates get landmarks (2 ms each). */
const MAX_CANDIDATES = 8;

/** Intersection over the smaller box. */
function overlap(a: Face['box'], b: Face['box']): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? (w * h) / Math.min(a.width * a.height, b.width * b.height) : 0;
}

export interface Analysis {
  verdict: Verdict;
  /** The subject's face, for framing (only usable photos are rendered). */
  geometry?: FaceGeometry;
}

export interface Analyser {
  analyse(image: RgbImage): Promise<Analysis>;
}

/**
 * Face width the framing needs in the source: the face spans 1/FRAME_FACE_WIDTHS of the headshot's
 * width, and ESRGAN enlarges at most 4 times.
 */
export const facePixelsNeeded = (headshotSize: number) => Math.ceil(headshotSize / FRAME_FACE_WIDTHS / 4);

export function thresholdsFrom(
  config: Pick<Config, 'MAX_HEAD_TURN_DEGREES' | 'EYES_CLOSED_BELOW' | 'HEADSHOT_SIZE'>,
): QualityThresholds {
  return {
    ...DEFAULT_THRESHOLDS,
    maxHeadTurn: config.MAX_HEAD_TURN_DEGREES,
    eyesClosedBelow: config.EYES_CLOSED_BELOW,
    minFacePixels: facePixelsNeeded(config.HEADSHOT_SIZE),
    headshotSize: config.HEADSHOT_SIZE,
  };
}

/**
 * The analysis seam (SD1): BlazeFace finds candidate faces (a whole-photo pass, then tiles when no
 * clear large face is there, so faces down to 3 % of the shorter side are found), FaceMesh confirms
 * each with its face-presence score and measures landmarks and pose, the iris model reads the
 * subject's eyelids and irises, and judge() gives the verdict. BlazeFace alone takes a cat (0.74) or a coffee cup (0.66) for a face; FaceMesh scores
 * them 0.01 against 0.99 for real faces, so presence is what decides. Faces cut by the frame, turned
 * upside down or soft score low (0.4-0.6) with the detector but are still confirmed by FaceMesh:
 * they are judged too, so the verdict names what is wrong with them rather than 'no face'.
 */
export async function createAnalyser(opts: {
  providers: string[];
  logger?: ModelLogger;
  presenceMin: number;
  thresholds?: QualityThresholds;
  /** FaceMesh, when the caller shares one session with its renders (worker/pixel-work.ts). */
  mesh?: Promise<Landmarker>;
}): Promise<Analyser> {
  const detector = await createFaceDetector({
    providers: opts.providers,
    logger: opts.logger,
    scoreThreshold: CANDIDATE_SCORE,
  });
  const mesh = await (opts.mesh ?? createLandmarker({ providers: opts.providers, logger: opts.logger }));
  const eyes = await createEyeReader({ providers: opts.providers, logger: opts.logger });
  const thresholds = opts.thresholds ?? DEFAULT_THRESHOLDS;
  return {
    async analyse(image) {
      const candidates = (await detector.detect(image)).slice(0, MAX_CANDIDATES);
      const confirmed: Found[] = [];
      const unconfirmed: Face[] = [];
      for (const face of candidates) {
        const landmarks = await mesh.landmarks(image, face);
        if (landmarks.presence >= opts.presenceMin) confirmed.push({ face, landmarks });
        else unconfirmed.push(face);
      }
      const sure = confirmed.filter((f) => f.face.score >= SURE_SCORE);
      // Without a sure face, the best confirmed one (cut off, upside down, small) is the subject,
      // unless the whole photo is soft and the detector is surer of a place FaceMesh cannot read:
      // then the blur is the reason (a flat wall in a sharp photo is not a blurred face). With no
      // face confirmed, the strongest place the detector is sure of goes to judge() as unread.
      let found = sure;
      let unread: Face | undefined;
      if (!sure.length) {
        const weak = confirmed[0];
        const strongest = unconfirmed.find(
          (f) => f.score >= UNREAD_CANDIDATE_SCORE && (!weak || f.score > weak.face.score),
        );
        const soft = candidates.every((f) => measureFace(image, f.box).sharpness < thresholds.minSharpness);
        found = weak && !(soft && strongest) ? [weak] : [];
        unread = found.length ? undefined : strongest;
      }
      // An upside-down face is still found, but with its keypoints as if upright (eyes swapped, mouth
      // below them), and FaceMesh confirms it on that crop: the photo turned round tells.
      if (found.length) {
        const subject = mainFace(found);
        const turned = (await detector.detectUpsideDown(image)).find((f) => overlap(f.box, subject.face.box) > 0.5);
        if (
          turned &&
          turned.score > subject.face.score + UPSIDE_DOWN_MARGIN &&
          insideFraction(turned.box, image) >= UPSIDE_DOWN_INSIDE
        )
          subject.face = turned;
        // The eyes of an upright subject (a turned photo has one reason, and its eye crops would lie on their side).
        if (uprightTurn(subject.face) === 0) subject.eyes = await eyes.read(image, subject.landmarks.points);
      }
      const verdict = judge(image, found, thresholds, unread);
      // The subject's geometry is kept whenever there is a subject: a review sheet frames an unusable photo too.
      if (!found.length) return { verdict };
      const { face, landmarks } = mainFace(found);
      const fp = landmarks.fivePoint;
      // Every other confirmed face, however small or weakly detected: the matte leaves those people out.
      const others = confirmed
        .filter((f) => f.face !== face && overlap(f.face.box, face.box) < 0.5)
        .map((f) => f.face.box);
      return {
        verdict,
        geometry: {
          box: face.box,
          eyes: { right: fp.rightEye, left: fp.leftEye },
          fivePoint: {
            rightEye: fp.rightEye,
            leftEye: fp.leftEye,
            nose: fp.nose,
            mouthRight: fp.mouthRight,
            mouthLeft: fp.mouthLeft,
          },
          ...(others.length ? { others } : {}),
        },
      };
    },
  };
}

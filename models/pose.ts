/**
 * People and their skeletons with MoveNet MultiPose Lightning (Google, Apache-2.0; converted from
 * TF.js to ONNX by models/build.ts, cut before the graph's own peak picking, which uses ops the
 * converter does not have): up to six people, 17 keypoints each, on a photo of any aspect ratio.
 *
 * The decode is the graph's own, in TypeScript: centre peaks (a 5x5 max filter), the 6 strongest;
 * from each, the 17 keypoints it regresses; each then snapped to the best keypoint-heatmap cell
 * inside the person's box, weighted by a Gaussian around the regressed point, plus that cell's
 * offset. A person's score is their centre's times the mean of their keypoints scoring above 0.127.
 */
import * as ort from 'onnxruntime-node';
import { heldModel, type HeldModel } from './build';
import { checkRgbImage, letterboxRect, resizeRgb, type RgbImage } from './face-detector';
import { getModel } from './registry';
import type { ModelLogger } from './session';

/** MoveNet's keypoints, in its order ("left" is the person's own left). */
export const KEYPOINTS = [
  'nose',
  'leftEye',
  'rightEye',
  'leftEar',
  'rightEar',
  'leftShoulder',
  'rightShoulder',
  'leftElbow',
  'rightElbow',
  'leftWrist',
  'rightWrist',
  'leftHip',
  'rightHip',
  'leftKnee',
  'rightKnee',
  'leftAnkle',
  'rightAnkle',
] as const;
export type KeypointName = (typeof KEYPOINTS)[number];

export interface Keypoint {
  /** Image px. */
  x: number;
  y: number;
  /** 0..1. */
  score: number;
}

export interface Pose {
  /** In KEYPOINTS order. */
  keypoints: Keypoint[];
  /** The centre's score times the mean of the keypoints' above KEYPOINT_FLOOR. */
  score: number;
  /** The person's box, image px. */
  box: { x: number; y: number; width: number; height: number };
}

/** A keypoint heatmap's own peak, whoever it belongs to: `kind` indexes KEYPOINTS. */
export interface Peak extends Keypoint {
  kind: number;
}

/** What MoveNet finds in a photo. */
export interface Poses {
  /** People (instances from a centre), strongest first. */
  people: Pose[];
  /**
   * Every keypoint heatmap's peaks scoring at least SURE_KEYPOINT: also the keypoints of people
   * cut off at the photo's edge, whose centre is too weak to make an instance.
   */
  peaks: Peak[];
}

export interface PoseDetector extends HeldModel {
  detect(image: RgbImage): Promise<Poses>;
}

const MODEL_ID = 'movenet-multipose';
/** The model's input side (its native size) and its heads' cells (a quarter of it). */
export const POSE_SIZE = 256;
/** The session's release when nobody asks for it (prepare() releases it as soon as a framing's detection is made). */
const POSE_IDLE_MS = 2_000;
const STRIDE = 4;
const K = KEYPOINTS.length;
const PEOPLE = 6;
/** A keypoint scoring at most this does not count towards its person's score (the graph's threshold). */
const KEYPOINT_FLOOR = 0.127;
/** A keypoint is sure from this score (the real set's cut-off neighbours score 0.3-0.6). */
const SURE_KEYPOINT = 0.3;

/** The heads of the cut graph, NHWC on a square grid of `size` cells. */
export interface PoseHeads {
  size: number;
  centre: Float32Array;
  regress: Float32Array;
  heatmap: Float32Array;
  offset: Float32Array;
  boxScale: Float32Array;
  boxOffset: Float32Array;
}

/** People and peaks in the heads' cells (keypoints and boxes in input pixels: cells times STRIDE). */
export function decodePoses(heads: PoseHeads): Poses {
  return { people: decodePeople(heads), peaks: decodePeaks(heads) };
}

/** Each keypoint heatmap's cells above their 8 neighbours and scoring at least SURE_KEYPOINT, with their offsets. */
function decodePeaks(heads: PoseHeads): Peak[] {
  const { size: S, heatmap, offset } = heads;
  const peaks: Peak[] = [];
  for (let k = 0; k < K; k++) {
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const i = y * S + x,
          v = heatmap[i * K + k];
        if (v < SURE_KEYPOINT) continue;
        let peak = true;
        for (let dy = -1; dy <= 1 && peak; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            const yy = y + dy,
              xx = x + dx;
            if ((dy || dx) && yy >= 0 && yy < S && xx >= 0 && xx < S && heatmap[(yy * S + xx) * K + k] > v) {
              peak = false;
              break;
            }
          }
        }
        if (peak)
          peaks.push({
            kind: k,
            y: (y + offset[i * 2 * K + 2 * k]) * STRIDE,
            x: (x + offset[i * 2 * K + 2 * k + 1]) * STRIDE,
            score: v,
          });
      }
    }
  }
  return peaks;
}

function decodePeople(heads: PoseHeads): Pose[] {
  const { size: S, centre } = heads;
  // Centre peaks: a cell equal to the maximum of the 5x5 around it.
  const peaks: number[] = [];
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const v = centre[y * S + x];
      let top = v;
      for (let dy = -2; dy <= 2; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= S) continue;
        for (let dx = -2; dx <= 2; dx++) {
          const xx = x + dx;
          if (xx >= 0 && xx < S) top = Math.max(top, centre[yy * S + xx]);
        }
      }
      if (Math.abs(v - top) < 1e-6) peaks.push(y * S + x);
    }
  }
  peaks.sort((a, b) => centre[b] - centre[a] || a - b);
  const poses: Pose[] = [];
  // The Gaussian that weights a keypoint's heatmap around the point its centre regressed.
  const spread = 0.3 * S;
  for (const c of peaks.slice(0, PEOPLE)) {
    const cy = Math.floor(c / S),
      cx = c % S;
    const h = Math.max(0, heads.boxScale[c * 2]),
      w = Math.max(0, heads.boxScale[c * 2 + 1]);
    const by = cy + heads.boxOffset[c * 2],
      bx = cx + heads.boxOffset[c * 2 + 1];
    const y0 = clamp(by - h / 2, S),
      y1 = clamp(by + h / 2, S),
      x0 = clamp(bx - w / 2, S),
      x1 = clamp(bx + w / 2, S);
    const keypoints: Keypoint[] = [];
    let sum = 0,
      count = 0;
    for (let k = 0; k < K; k++) {
      const ry = cy + heads.regress[c * 2 * K + 2 * k],
        rx = cx + heads.regress[c * 2 * K + 2 * k + 1];
      let best = -1,
        at = c;
      for (let y = Math.ceil(y0); y < y1; y++) {
        for (let x = Math.ceil(x0); x < x1; x++) {
          const i = y * S + x;
          const v = heads.heatmap[i * K + k] * Math.exp(-((y - ry) ** 2 + (x - rx) ** 2) / spread);
          if (v > best) {
            best = v;
            at = i;
          }
        }
      }
      const score = Math.max(0, best);
      const ay = Math.floor(at / S),
        ax = at % S;
      keypoints.push({
        y: (ay + heads.offset[at * 2 * K + 2 * k]) * STRIDE,
        x: (ax + heads.offset[at * 2 * K + 2 * k + 1]) * STRIDE,
        score,
      });
      if (score > KEYPOINT_FLOOR) {
        sum += score;
        count++;
      }
    }
    poses.push({
      keypoints,
      score: (centre[c] * sum) / Math.max(1, count),
      box: { x: x0 * STRIDE, y: y0 * STRIDE, width: (x1 - x0) * STRIDE, height: (y1 - y0) * STRIDE },
    });
  }
  return poses.sort((a, b) => b.score - a.score);
}

const clamp = (v: number, S: number) => Math.max(0, Math.min(S, v));

/** The model's input (NHWC RGB 0..255, the photo letterboxed on black) and where the photo lies in it. */
export async function poseInput(
  image: RgbImage,
): Promise<{ tensor: Float32Array; scale: number; padX: number; padY: number }> {
  const { w, h, padX, padY } = letterboxRect(image.width, image.height, POSE_SIZE);
  const pixels = await resizeRgb(image, w, h);
  const tensor = new Float32Array(POSE_SIZE * POSE_SIZE * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const src = (y * w + x) * 3,
        dst = ((y + padY) * POSE_SIZE + x + padX) * 3;
      tensor[dst] = pixels[src];
      tensor[dst + 1] = pixels[src + 1];
      tensor[dst + 2] = pixels[src + 2];
    }
  }
  return { tensor, scale: Math.max(image.width, image.height) / POSE_SIZE, padX, padY };
}

/**
 * MoveNet MultiPose, run by prepare() on the whole photo and on each framing of it. Its session
 * (16-29 MB of a thread's RSS) opens at a detection and is held until released (or `idleMs` after
 * the last detection): prepare() makes the whole photo's and the first framing's detections back
 * to back on one session (each opening costs 170-410 ms of CPU) and releases it before ESRGAN and
 * the matte run. The model is built from the installed package
 * first if it is missing.
 */
export function createPoseDetector(opts: { providers: string[]; logger?: ModelLogger; idleMs?: number }): PoseDetector {
  const input = getModel(MODEL_ID).input.name;
  const model = heldModel(MODEL_ID, opts, opts.idleMs ?? POSE_IDLE_MS);
  return Object.assign(model, {
    async detect(image: RgbImage): Promise<Poses> {
      checkRgbImage(image, 'pose');
      const { tensor, scale, padX, padY } = await poseInput(image);
      const out = await model.run({ [input]: new ort.Tensor('float32', tensor, [1, POSE_SIZE, POSE_SIZE, 3]) });
      const head = (name: string) => out[name].data as Float32Array;
      const found = decodePoses({
        size: POSE_SIZE / STRIDE,
        centre: head('centre'),
        regress: head('regress'),
        heatmap: head('heatmap'),
        offset: head('offset'),
        boxScale: head('boxScale'),
        boxOffset: head('boxOffset'),
      });
      // Input pixels to the photo's.
      const toImage = (x: number, y: number) => ({ x: (x - padX) * scale, y: (y - padY) * scale });
      return {
        people: found.people.map((p) => ({
          score: p.score,
          keypoints: p.keypoints.map((k) => ({ ...toImage(k.x, k.y), score: k.score })),
          box: { ...toImage(p.box.x, p.box.y), width: p.box.width * scale, height: p.box.height * scale },
        })),
        peaks: found.peaks.map((k) => ({ ...k, ...toImage(k.x, k.y) })),
      };
    },
  });
}

/** `found` with every point moved by `to` (a similarity map scaling lengths by `scale`): people found in a photo, placed in a frame of it. */
export function movePoses(
  found: Poses,
  to: (p: { x: number; y: number }) => { x: number; y: number },
  scale: number,
): Poses {
  return {
    people: found.people.map((p) => ({
      score: p.score,
      keypoints: p.keypoints.map((k) => ({ ...k, ...to(k) })),
      box: { ...to(p.box), width: p.box.width * scale, height: p.box.height * scale },
    })),
    peaks: found.peaks.map((k) => ({ ...k, ...to(k) })),
  };
}

/** A stretch of someone's skeleton between two keypoints (image px); both ends the same point for a lone keypoint. */
export type Bone = [{ x: number; y: number }, { x: number; y: number }];

/** Keypoints that join (head, shoulders and arms, torso, legs), by index in KEYPOINTS. */
const SKELETON: [number, number][] = [
  [0, 1],
  [0, 2],
  [1, 3],
  [2, 4],
  [5, 6],
  [5, 7],
  [7, 9],
  [6, 8],
  [8, 10],
  [5, 11],
  [6, 12],
  [11, 12],
  [11, 13],
  [13, 15],
  [12, 14],
  [14, 16],
];
/** The subject's nose or an eye lies within this many face widths of their eyes' midpoint. */
const SUBJECT_NEAR = 0.5;
/** Another instance's keypoint this close (face widths) to the subject's of the same kind is the subject seen twice. */
const SAME_POINT = 0.35;
/**
 * A keypoint this close (face widths) to a sure keypoint of the subject it joins (an elbow to their
 * shoulder) may be the subject's own: an upper arm is about a face width and a bit in a headshot,
 * an eye to an ear or the nose under half of one.
 */
const LIMB = 1.3;
const HEAD_BONE = 0.6;
/** An elbow or a wrist this close (face widths) to the subject's eyes is theirs (a hand in their hair). */
const HAND_REACH = 1.0;
/**
 * The subject's head, face and skull (face widths from their eyes' midpoint, the frame level with
 * the eyes): an ellipse HEAD_ACROSS each way and HEAD_HALF_HEIGHT up and down from HEAD_MID. Nobody
 * else's keypoint lies there in a photo whose face was judged usable: one that does is MoveNet
 * guessing where a hidden shoulder of the person behind would be (p5-turned: a bone from it cut the
 * top of her hair).
 */
const HEAD_ACROSS = 0.42;
const HEAD_MID = -0.1;
const HEAD_HALF_HEIGHT = 0.8;
/**
 * A shoulder below the subject's chin (CHIN_BELOW face widths under the eyes) within NECK face
 * widths of their sure ear on its side is their own: a neck is about a face width long. Their
 * other shoulder is often not in their instance (p3-blonde: the left one, under a neighbour's hair,
 * only a heatmap peak), and as someone else's it took her shoulder out of the matte.
 */
const NECK = 1.5;
const CHIN_BELOW = 0.75;
/**
 * Someone else's hair falls HAIR_FALL face widths below their ear (to the chest: p6-red's
 * neighbour's curls, p6-pout's friend's dark hair down to her green top), and stops short of the
 * subject's head grown HAIR_CLEAR times (p5-turned: the ear of the woman behind is above the
 * subject's head; at 1.5 times, the fall took the edge of her hair)...
 */
const HAIR_FALL = 1.5;
const HAIR_CLEAR = 2;
/** ...and never comes this close (face widths) to a sure shoulder of the subject's, the edge of her arm. */
const SHOULDER_CLEAR = 0.4;

/**
 * The other people's skeletons, given the subject's eyes' midpoint and face width (image px): the
 * subject is the instance whose nose or eyes lie nearest their eyes. Every other instance's sure
 * keypoints, the bones between two of them, the hair below their ears (`hairFall`), and every
 * heatmap peak, are someone else's, unless the subject's keypoint of the same kind (or its
 * mirror: left for right) lies there (the same person found twice, or a peak the subject's
 * keypoint snapped to), or within a limb's length of a sure keypoint of the subject's it joins
 * (their own elbow below their shoulder, which their instance did not snap to), or lies inside
 * their head, or is a shoulder a neck below their ear on its side (`inHead`, `ownShoulder`).
 * Nothing when MoveNet did not find the subject: then nobody's keypoint can be told from theirs.
 */
export function otherPeople(found: Poses, eyes: { x: number; y: number }, faceWidth: number): Bone[] {
  const sure = (k: Keypoint) => k.score >= SURE_KEYPOINT;
  const headDistance = (p: Pose) =>
    Math.min(...p.keypoints.slice(0, 3).map((k) => (sure(k) ? Math.hypot(k.x - eyes.x, k.y - eyes.y) : Infinity)));
  let subject: Pose | undefined;
  let nearest = SUBJECT_NEAR * faceWidth;
  for (const p of found.people) {
    const d = headDistance(p);
    if (d < nearest) [subject, nearest] = [p, d];
  }
  if (!subject) return [];
  const own = subject.keypoints;
  const from = (k: Keypoint, kind: number) => Math.hypot(k.x - own[kind].x, k.y - own[kind].y) / faceWidth;
  // MoveNet takes a left for a right now and then (two elbow peaks on one elbow).
  const mirror = (kind: number) => (kind === 0 ? 0 : kind % 2 ? kind + 1 : kind - 1);
  const inHead = (k: { x: number; y: number }, scale = 1) =>
    ((k.x - eyes.x) / (HEAD_ACROSS * scale * faceWidth)) ** 2 +
      ((k.y - eyes.y) / faceWidth - HEAD_MID) ** 2 / (HEAD_HALF_HEIGHT * scale) ** 2 <=
    1;
  const ownShoulder = (k: Keypoint, kind: number) =>
    (kind === 5 || kind === 6) &&
    sure(own[kind - 2]) &&
    from(k, kind - 2) < NECK &&
    k.y - eyes.y > CHIN_BELOW * faceWidth;
  const theirs = (k: Keypoint, kind: number) =>
    sure(k) &&
    from(k, kind) >= SAME_POINT &&
    from(k, mirror(kind)) >= SAME_POINT &&
    !(kind >= 7 && kind <= 10 && Math.hypot(k.x - eyes.x, k.y - eyes.y) < HAND_REACH * faceWidth) &&
    !inHead(k) &&
    !ownShoulder(k, kind) &&
    !SKELETON.some(
      ([a, b]) =>
        (a === kind || b === kind) && sure(own[a + b - kind]) && from(k, a + b - kind) < (b <= 4 ? HEAD_BONE : LIMB),
    );
  // Long hair hangs below its owner's ear, beside the subject's shoulder, where MoveNet has no
  // keypoint: a bone straight down the frame from each sure ear of someone else, stopped before
  // it comes near the subject's own head (HAIR_CLEAR times its ellipse, for her hair around it),
  // her sure shoulders, or between them (her chest).
  const shoulders = [own[5], own[6]].filter(sure);
  const between = (q: { x: number; y: number }) =>
    shoulders.length === 2 &&
    q.x > Math.min(shoulders[0].x, shoulders[1].x) &&
    q.x < Math.max(shoulders[0].x, shoulders[1].x) &&
    q.y > Math.min(shoulders[0].y, shoulders[1].y) - SHOULDER_CLEAR * faceWidth;
  const clear = (q: { x: number; y: number }) =>
    !inHead(q, HAIR_CLEAR) &&
    !between(q) &&
    shoulders.every((s) => Math.hypot(q.x - s.x, q.y - s.y) >= SHOULDER_CLEAR * faceWidth);
  const hairFall = (ear: Keypoint): Bone[] => {
    const step = 0.05 * faceWidth;
    let end = ear.y;
    while (end + step <= ear.y + HAIR_FALL * faceWidth && clear({ x: ear.x, y: end + step })) end += step;
    return end > ear.y ? [[ear, { x: ear.x, y: end }]] : [];
  };
  const bones: Bone[] = found.peaks.filter((k) => theirs(k, k.kind)).map((k) => [k, k]);
  for (const p of found.people) {
    if (p === subject) continue;
    const ok = p.keypoints.map((k, i) => theirs(k, i));
    for (const [a, b] of SKELETON) if (ok[a] && ok[b]) bones.push([p.keypoints[a], p.keypoints[b]]);
    for (const e of [3, 4]) if (ok[e]) bones.push(...hairFall(p.keypoints[e]));
  }
  return bones;
}

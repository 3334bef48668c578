import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeRgb } from '../../core/photos/images';
import { createPoseDetector, KEYPOINTS, otherPeople, type PoseDetector } from '../../models/pose';
import { expectHeldWhileUsed } from '../support/model-checks';

/**
 * MoveNet MultiPose (models/pose.ts): the graph converted up to its heads, decoded in TypeScript,
 * on real photos whose people are known. Eyes (image px) checked by hand on the photos.
 */
const PHOTOS = {
  // Cheek on her friend's shoulder; the friend's face is cut by the right edge (one eye in).
  'p6-pout-hs.jpg': { right: { x: 312, y: 363 }, left: { x: 412, y: 365 }, faceWidth: 242, people: 2 },
  // Alone in the frame, hand in her hair.
  'p3-curls-hs.jpg': { right: { x: 251, y: 326 }, left: { x: 345, y: 329 }, faceWidth: 230, people: 1 },
} as const;
/** An instance is a person from this score (the weakest real one here scores 0.18, the strongest ghost 0.02). */
const PERSON = 0.1;
const at = (name: (typeof KEYPOINTS)[number]) => KEYPOINTS.indexOf(name);

let pose: PoseDetector;
beforeAll(async () => {
  pose = createPoseDetector({ providers: ['cpu'] }); // its first detection builds models/onnx/movenet-multipose.onnx if missing
}, 120_000);

describe('MoveNet MultiPose on real photos', () => {
  for (const [file, known] of Object.entries(PHOTOS)) {
    it(`${file}: ${known.people === 1 ? 'one person' : `${known.people} people`}, the strongest with eyes and nose on the subject's face`, async () => {
      const image = await decodeRgb(await readFile(new URL(`../fixtures/real/${file}`, import.meta.url)));
      const { people, peaks } = await pose.detect(image);
      expect(people.filter((p) => p.score >= PERSON)).toHaveLength(known.people);
      const [subject] = people;
      const w = known.faceWidth;
      for (const [kind, eye] of [
        ['rightEye', known.right],
        ['leftEye', known.left],
      ] as const) {
        const k = subject.keypoints[at(kind)];
        expect(k.score, kind).toBeGreaterThan(0.5);
        expect(Math.hypot(k.x - eye.x, k.y - eye.y), `${kind} from the labelled eye, px`).toBeLessThan(0.1 * w);
      }
      const mid = { x: (known.right.x + known.left.x) / 2, y: (known.right.y + known.left.y) / 2 };
      const nose = subject.keypoints[at('nose')];
      expect(Math.abs(nose.x - mid.x), 'nose across from the eyes').toBeLessThan(0.25 * w);
      expect(nose.y - mid.y, 'nose below the eyes').toBeGreaterThan(0.1 * w);
      expect(nose.y - mid.y, 'nose below the eyes').toBeLessThan(0.5 * w);
      // The subject's sure keypoints are peaks of the heatmaps too.
      expect(
        peaks.some((k) => k.kind === at('leftEye') && Math.hypot(k.x - known.left.x, k.y - known.left.y) < 0.1 * w),
      ).toBe(true);

      // Someone else's keypoints: on the friend only (her face and a wrist, right of the subject's left
      // ear at 0.4 face widths from her eyes), none on the subject.
      const bones = otherPeople({ people, peaks }, mid, w);
      const points = bones.flat();
      if (known.people === 1) expect(points).toHaveLength(0);
      else {
        expect(points.length).toBeGreaterThan(2);
        for (const q of points) expect(q.x, 'a keypoint of the friend').toBeGreaterThan(mid.x + 0.75 * w);
      }
    });
  }

  it("a preparation's detections share one session, released when asked or idleMs after the last, and the same people are found after it opens again", async () => {
    const image = await decodeRgb(await readFile(new URL('../fixtures/real/p6-pout-hs.jpg', import.meta.url)));
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const held = createPoseDetector({ providers: ['cpu'], idleMs: 6_000 });
      const { first, again } = await expectHeldWhileUsed(held, () => held.detect(image), 6_000);
      expect(held.provider).toBe('cpu');
      expect(again.people.map((p) => p.score)).toEqual(first.people.map((p) => p.score));
      // prepare() releases it once its framings are done.
      held.release();
      expect(held.loaded).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("someone else's hair below their ear (otherPeople)", () => {
  // The subject's eyes at (500, 500), face width 200; keypoints as MoveNet gives them, sure at 0.6.
  const eyes = { x: 500, y: 500 };
  const w = 200;
  const person = (points: Partial<Record<(typeof KEYPOINTS)[number], [number, number]>>) => ({
    score: 0.5,
    box: { x: 0, y: 0, width: 1, height: 1 },
    keypoints: KEYPOINTS.map((name) => {
      const p = points[name];
      return p ? { x: p[0], y: p[1], score: 0.6 } : { x: 0, y: 0, score: 0 };
    }),
  });
  const subject = (shoulders: boolean) =>
    person({
      nose: [500, 560],
      leftEye: [540, 500],
      rightEye: [460, 500],
      leftEar: [580, 510],
      rightEar: [420, 510],
      ...(shoulders ? { leftShoulder: [680, 760], rightShoulder: [320, 760] } : {}),
    });
  const falls = (other: ReturnType<typeof person>, shoulders = false) =>
    otherPeople({ people: [subject(shoulders), other], peaks: [] }, eyes, w).filter(
      ([a, b]) => a.x === b.x && b.y > a.y,
    );

  it("a neighbour's ear beside the subject: a bone 1.5 face widths straight down from it", () => {
    const [fall] = falls(person({ leftEar: [880, 560] }));
    expect(fall[0]).toMatchObject({ x: 880, y: 560 });
    expect(fall[1].x).toBe(880);
    expect(fall[1].y - 560).toBeCloseTo(1.5 * w, -1);
  });

  it("an ear above the subject's head (the person behind) falls no nearer her head than twice its ellipse", () => {
    // p5-turned: the ear of the woman behind is above the subject's head, a little to its side.
    const [fall] = falls(person({ rightEar: [555, 150] }));
    const bottom = fall?.[1].y ?? 150;
    // Her head's ellipse, grown twice: 0.84 face widths across, 1.6 up and down from 0.1 above the eyes.
    const inside = ((555 - 500) / (0.84 * w)) ** 2 + ((bottom - 500) / w + 0.1) ** 2 / 1.6 ** 2;
    expect(inside).toBeGreaterThan(1);
    expect(bottom).toBeLessThan(500 - 1.4 * w);
  });

  it("a fall stops 0.4 face widths short of the subject's sure shoulder, and never crosses her chest", () => {
    const [onShoulder] = falls(person({ leftEar: [700, 420] }), true);
    expect(Math.hypot(onShoulder[1].x - 680, onShoulder[1].y - 760)).toBeGreaterThanOrEqual(0.4 * w);
    expect(onShoulder[1].y).toBeLessThan(760);
    // An ear just outside the head's grown ellipse, over her chest: its fall ends above the shoulders' line.
    const [overChest] = falls(person({ rightEar: [640, 230] }), true);
    expect(overChest?.[1].y ?? 230).toBeLessThanOrEqual(760 - 0.4 * w);
  });
});

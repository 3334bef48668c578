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

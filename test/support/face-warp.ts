import type { Point, RgbImage } from '../../models/face-detector';
import type { Feature } from '../../worker/face-true';

/**
 * Deliberate geometric changes to a face, to measure what the face-true check catches: a smooth
 * local displacement (Gaussian falloff, no seam) that moves the subject's left eye away from the
 * other eye, or widens the nose, by `amount` times the inter-ocular distance (IOD). `at` are the
 * face's features in the image (FaceTrueReference.at): eye centres and the nose's corners.
 */
export type FaceChange = 'eye' | 'nose';

export function warpFace(image: RgbImage, at: Record<Feature, Point>, change: FaceChange, amount: number): RgbImage {
  const { rightEye, leftEye, noseRight, noseLeft } = at;
  const iod = Math.hypot(leftEye.x - rightEye.x, leftEye.y - rightEye.y);
  const u = { x: (leftEye.x - rightEye.x) / iod, y: (leftEye.y - rightEye.y) / iod };
  const d = amount * iod;
  // How far (along u) a point at (dx, dy) from the centre moves, given the Gaussian weight g there.
  let centre: Point, sigma: number, shift: (dx: number, dy: number, g: number) => number;
  if (change === 'eye') {
    // The eye's centre moves d, its corners about 0.8 d.
    centre = leftEye;
    sigma = 0.35 * iod;
    shift = (_dx, _dy, g) => d * g;
  } else {
    // Each corner of the nose moves d / 2 outward (the largest move of this field): the nose is d wider.
    centre = { x: (noseRight.x + noseLeft.x) / 2, y: (noseRight.y + noseLeft.y) / 2 };
    sigma = Math.hypot(noseLeft.x - noseRight.x, noseLeft.y - noseRight.y) / 2;
    shift = (dx, dy, g) => (d / 2) * ((dx * u.x + dy * u.y) / sigma) * g * Math.exp(0.5);
  }
  const { width, height, data } = image;
  const out = Buffer.from(data);
  const reach = 3.5 * sigma;
  const x0 = Math.max(0, Math.floor(centre.x - reach)),
    x1 = Math.min(width - 1, Math.ceil(centre.x + reach));
  const y0 = Math.max(0, Math.floor(centre.y - reach)),
    y1 = Math.min(height - 1, Math.ceil(centre.y + reach));
  const px = (x: number, y: number, c: number) =>
    data[(Math.min(height - 1, Math.max(0, y)) * width + Math.min(width - 1, Math.max(0, x))) * 3 + c];
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x + 0.5 - centre.x,
        dy = y + 0.5 - centre.y;
      const m = shift(dx, dy, Math.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma)));
      // Each output pixel reads where its content came from (bilinear).
      const sx = x - m * u.x,
        sy = y - m * u.y;
      const fx = Math.floor(sx),
        fy = Math.floor(sy),
        ax = sx - fx,
        ay = sy - fy;
      for (let c = 0; c < 3; c++) {
        const v =
          (px(fx, fy, c) * (1 - ax) + px(fx + 1, fy, c) * ax) * (1 - ay) +
          (px(fx, fy + 1, c) * (1 - ax) + px(fx + 1, fy + 1, c) * ax) * ay;
        out[(y * width + x) * 3 + c] = Math.round(v);
      }
    }
  }
  return { data: out, width, height };
}

import sharp from 'sharp';
import type { Style } from '../core/catalog';

/**
 * Renders one headshot: a head-and-shoulders frame with the eyes 40 % from the top, the style's
 * grade and vignette, encoded as a metadata-free JPEG. The face pixels are only cropped, scaled
 * and colour-graded, never regenerated.
 */
export interface FaceGeometry {
  box: { x: number; y: number; width: number; height: number };
  eyes: { right: { x: number; y: number }; left: { x: number; y: number } };
}

/** Eyes sit this far down the frame; the frame is this many face widths wide. */
export const EYE_LINE = 0.4;
export const FRAME_FACE_WIDTHS = 2.8;

export function frameFor(face: FaceGeometry, image: { width: number; height: number }) {
  const ex = (face.eyes.right.x + face.eyes.left.x) / 2;
  const ey = (face.eyes.right.y + face.eyes.left.y) / 2;
  const side = Math.round(face.box.width * FRAME_FACE_WIDTHS);
  const left = Math.round(ex - side / 2);
  const top = Math.round(ey - EYE_LINE * side);
  return { left, top, side, pad: { left: Math.max(0, -left), top: Math.max(0, -top), right: Math.max(0, left + side - image.width), bottom: Math.max(0, top + side - image.height) } };
}

function vignetteSvg(size: number, strength: number): Buffer {
  const edge = Math.round(255 * (1 - strength));
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><defs><radialGradient id="v" cx="50%" cy="45%" r="75%">` +
      `<stop offset="55%" stop-color="rgb(255,255,255)"/><stop offset="100%" stop-color="rgb(${edge},${edge},${edge})"/></radialGradient></defs>` +
      `<rect width="100%" height="100%" fill="url(#v)"/></svg>`,
  );
}

export async function renderHeadshot(original: Buffer, face: FaceGeometry, style: Style, size: number): Promise<{ data: Buffer; width: number; height: number }> {
  const meta = await sharp(original).metadata();
  const f = frameFor(face, { width: meta.width!, height: meta.height! });
  const crop = {
    left: Math.max(0, f.left),
    top: Math.max(0, f.top),
    width: Math.min(meta.width!, f.left + f.side) - Math.max(0, f.left),
    height: Math.min(meta.height!, f.top + f.side) - Math.max(0, f.top),
  };
  const framed = await sharp(original)
    .extract(crop)
    .extend({ ...f.pad, extendWith: 'copy' })
    .resize(size, size, { kernel: 'lanczos3' })
    .toBuffer();
  const { brightness, saturation, warmth, contrast } = style.grade;
  let img = sharp(framed)
    .modulate({ brightness, saturation: Math.max(saturation, 0.001) })
    .linear([contrast * (1 + warmth), contrast, contrast * (1 - warmth)], [128 * (1 - contrast), 128 * (1 - contrast), 128 * (1 - contrast)]);
  // sharp applies greyscale before linear within one pipeline, so it gets a pipeline of its own.
  if (style.greyscale) img = sharp(await img.toBuffer()).greyscale().toColourspace('srgb');
  if (style.vignette > 0) {
    img = sharp(await img.toBuffer()).composite([{ input: vignetteSvg(size, style.vignette), blend: 'multiply' }]);
  }
  const data = await img.toColourspace('srgb').jpeg({ quality: 90, mozjpeg: true }).toBuffer();
  return { data, width: size, height: size };
}

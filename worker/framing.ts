import type { Point } from '../models/face-detector';

/**
 * Head-and-shoulders framing as one similarity transform (rotation, scale, translation): the eye
 * line is made horizontal, the eyes' midpoint lands EYE_LINE down the frame, and the face spans
 * 1 / FRAME_FACE_WIDTHS of its width. Only this rigid map touches the face's geometry, which is
 * what the face-true check verifies afterwards.
 */
import { EYE_LINE, FRAME_ASPECT } from '../core/catalog';

export { EYE_LINE };
export const FRAME_FACE_WIDTHS = 2.8;

export interface Frame {
  width: number;
  height: number;
  /** Output pixels per source pixel. */
  scale: number;
  /** Rotation applied to the source, radians. */
  angle: number;
  /** Eyes' midpoint in the source. */
  eyes: Point;
}

export function frameFor(eyes: { right: Point; left: Point }, faceWidth: number, outWidth: number): Frame {
  const angle = Math.atan2(eyes.left.y - eyes.right.y, eyes.left.x - eyes.right.x);
  return {
    width: outWidth,
    height: Math.round(outWidth * FRAME_ASPECT),
    scale: outWidth / (faceWidth * FRAME_FACE_WIDTHS),
    angle,
    eyes: { x: (eyes.left.x + eyes.right.x) / 2, y: (eyes.left.y + eyes.right.y) / 2 },
  };
}

/** Where an output pixel comes from in the source (continuous coordinates). */
export function toSource(f: Frame, o: Point): Point {
  const dx = (o.x - f.width / 2) / f.scale;
  const dy = (o.y - f.height * EYE_LINE) / f.scale;
  const c = Math.cos(f.angle), s = Math.sin(f.angle);
  return { x: f.eyes.x + c * dx - s * dy, y: f.eyes.y + s * dx + c * dy };
}

/** Where a source point lands in the output. */
export function toOutput(f: Frame, p: Point): Point {
  const dx = p.x - f.eyes.x, dy = p.y - f.eyes.y;
  const c = Math.cos(f.angle), s = Math.sin(f.angle);
  return { x: f.width / 2 + f.scale * (c * dx + s * dy), y: f.height * EYE_LINE + f.scale * (-s * dx + c * dy) };
}

/** The source rectangle the frame reads from, padded by `margin` source pixels. */
export function sourceBounds(f: Frame, margin = 2): { left: number; top: number; right: number; bottom: number } {
  const corners = [toSource(f, { x: 0, y: 0 }), toSource(f, { x: f.width, y: 0 }), toSource(f, { x: 0, y: f.height }), toSource(f, { x: f.width, y: f.height })];
  return {
    left: Math.floor(Math.min(...corners.map((p) => p.x))) - margin,
    top: Math.floor(Math.min(...corners.map((p) => p.y))) - margin,
    right: Math.ceil(Math.max(...corners.map((p) => p.x))) + margin,
    bottom: Math.ceil(Math.max(...corners.map((p) => p.y))) + margin,
  };
}

/**
 * Bilinear resampling of `src` (packed RGB) into the frame. `srcOrigin` and `srcScale` say where
 * `src` sits relative to the original photo (src pixel = (photo point - origin) * scale), so the
 * caller can hand in a pre-scaled or upscaled crop. Pixels beyond the photo repeat its edge.
 */
export function warp(src: { data: Uint8Array; width: number; height: number }, srcOrigin: Point, srcScale: number, f: Frame): Buffer {
  const out = Buffer.alloc(f.width * f.height * 3);
  const { width: w, height: h, data } = src;
  const c = Math.cos(f.angle) / f.scale, s = Math.sin(f.angle) / f.scale;
  const cx = f.width / 2, cy = f.height * EYE_LINE;
  let o = 0;
  for (let y = 0; y < f.height; y++) {
    // Source point of output pixel centre (x + 0.5, y + 0.5), in src pixel centres.
    const dy = y + 0.5 - cy;
    const baseX = (f.eyes.x - srcOrigin.x - s * dy) * srcScale - 0.5;
    const baseY = (f.eyes.y - srcOrigin.y + c * dy) * srcScale - 0.5;
    for (let x = 0; x < f.width; x++) {
      const dx = x + 0.5 - cx;
      let sx = baseX + c * dx * srcScale;
      let sy = baseY + s * dx * srcScale;
      if (sx < 0) sx = 0; else if (sx > w - 1) sx = w - 1;
      if (sy < 0) sy = 0; else if (sy > h - 1) sy = h - 1;
      const x0 = sx | 0, y0 = sy | 0;
      const x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
      const fx = sx - x0, fy = sy - y0;
      const i00 = (y0 * w + x0) * 3, i01 = (y0 * w + x1) * 3, i10 = (y1 * w + x0) * 3, i11 = (y1 * w + x1) * 3;
      for (let k = 0; k < 3; k++) {
        const top = data[i00 + k] + (data[i01 + k] - data[i00 + k]) * fx;
        const bot = data[i10 + k] + (data[i11 + k] - data[i10 + k]) * fx;
        out[o++] = top + (bot - top) * fy + 0.5;
      }
    }
  }
  return out;
}

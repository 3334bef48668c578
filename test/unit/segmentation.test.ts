import { describe, it, expect, beforeAll } from 'vitest';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { RgbImage } from '../../models/face-detector';
import { createSegmenter, type SegmentationMask, type Segmenter } from '../../models/segmenter';
import {
  boxMean,
  composite,
  compositePlanar,
  maskToAlpha,
  refineMask,
  solidImage,
  upsampleMask,
} from '../../models/matte';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));

async function rgb(
  input: string | Buffer,
  extract?: { left: number; top: number; width: number; height: number },
): Promise<RgbImage> {
  let p = sharp(input).removeAlpha().toColourspace('srgb');
  if (extract) p = p.extract(extract);
  const { data, info } = await p.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected 3 channels, got ${info.channels}`);
  return { data, width: info.width, height: info.height };
}

/** Smallest and largest alpha in the (2r+1)^2 patch around (x, y). */
function patch(alpha: Uint8Array, width: number, x: number, y: number, r = 3): { min: number; max: number } {
  let min = 255;
  let max = 0;
  for (let dy = -r; dy <= r; dy++) {
    for (let dx = -r; dx <= r; dx++) {
      const v = alpha[(y + dy) * width + x + dx];
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
  }
  return { min, max };
}

/** Pixels where alpha crosses 128 between horizontal or vertical neighbours: their count, mean image-luma gradient and mean alpha gradient. */
function boundaryStats(alpha: Uint8Array, image: RgbImage) {
  const { width: W, height: H, data } = image;
  const Y = (i: number) => 0.299 * data[3 * i] + 0.587 * data[3 * i + 1] + 0.114 * data[3 * i + 2];
  let n = 0;
  let imageGrad = 0;
  let alphaGrad = 0;
  for (let y = 1; y < H - 1; y++) {
    for (let x = 1; x < W - 1; x++) {
      const i = y * W + x;
      const on = alpha[i] >= 128;
      if (on === alpha[i + 1] >= 128 && on === alpha[i + W] >= 128) continue;
      n++;
      imageGrad += Math.hypot(Y(i + 1) - Y(i - 1), Y(i + W) - Y(i - W)) / 2;
      alphaGrad += Math.hypot(alpha[i + 1] - alpha[i - 1], alpha[i + W] - alpha[i - W]) / 2;
    }
  }
  return { n, imageGrad: imageGrad / n, alphaGrad: alphaGrad / n };
}

const midGrey = (alpha: Uint8Array) => alpha.reduce((s, v) => s + (v > 25 && v < 230 ? 1 : 0), 0);

function iou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    const p = a[i] >= 128;
    const q = b[i] >= 128;
    if (p && q) inter++;
    if (p || q) union++;
  }
  return inter / union;
}

describe('person segmentation and matting', () => {
  let segmenter: Segmenter;
  let image: RgbImage;
  let coarse: SegmentationMask;
  let alpha: Uint8Array;

  beforeAll(async () => {
    segmenter = await createSegmenter({ providers: ['cpu'] }); // builds models/onnx/selfie.onnx if missing
    image = await rgb(`${fixtures}astronaut.png`);
    coarse = await segmenter.segment(image);
    alpha = refineMask(image, coarse);
  });

  it('segment() returns a 256x256 probability mask and where the photo lies in it', () => {
    expect(segmenter.provider).toBe('cpu');
    expect(coarse.width).toBe(256);
    expect(coarse.height).toBe(256);
    expect(coarse.mask).toBeInstanceOf(Float32Array);
    expect(coarse.mask).toHaveLength(256 * 256);
    expect(coarse.imageWidth).toBe(512);
    expect(coarse.imageHeight).toBe(512);
    expect(coarse.region).toEqual({ x: 0, y: 0, width: 256, height: 256 });
    let min = Infinity;
    let max = -Infinity;
    for (const v of coarse.mask) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThanOrEqual(1);
    // Face centre and a corner of the backdrop, in mask pixels.
    expect(coarse.mask[62 * 256 + 112]).toBeGreaterThan(0.9);
    expect(coarse.mask[5 * 256 + 250]).toBeLessThan(0.1);
  });

  it('refineMask: full-resolution alpha, opaque on the person, transparent on the backdrop', () => {
    expect(alpha).toBeInstanceOf(Uint8Array);
    expect(alpha).toHaveLength(512 * 512);
    // Person (checked on scratch renders of the matte): face centre, hair top, torso (suit and
    // its white strap), the left arm. Observed: 255 at all of them.
    for (const [x, y] of [
      [225, 125],
      [225, 30],
      [250, 450],
      [150, 400],
    ]) {
      expect(patch(alpha, 512, x, y).min, `(${x},${y})`).toBeGreaterThan(200);
    }
    // Backdrop: the two top corners (the flag's blue canton, the grey studio backdrop), the grey
    // backdrop beside the head, the flag's stripes, the shuttle model. Observed: 0 at all of them.
    for (const [x, y] of [
      [5, 5],
      [506, 5],
      [30, 30],
      [350, 80],
      [60, 120],
      [470, 200],
      [440, 300],
    ]) {
      expect(patch(alpha, 512, x, y).max, `(${x},${y})`).toBeLessThan(40);
    }
  });

  it('refineMask: edges are sharper than the coarse mask and sit on the photo’s edges', () => {
    const up = upsampleMask(coarse, 512, 512);
    const plain = maskToAlpha(up);
    const curved = maskToAlpha(up, [0.2, 0.8]); // the same contrast curve, without the guided filter
    // Observed mid-grey (26..229) pixels: refined 5665, coarse 13467, coarse + curve 6259.
    expect(midGrey(alpha)).toBeLessThan(0.6 * midGrey(plain));
    expect(midGrey(alpha)).toBeLessThan(midGrey(curved));
    const r = boundaryStats(alpha, image);
    const c = boundaryStats(curved, image);
    const p = boundaryStats(plain, image);
    // Observed alpha gradient across the boundary: refined 104, coarse + curve 88, coarse 49.
    expect(r.alphaGrad).toBeGreaterThan(1.5 * p.alphaGrad);
    expect(r.alphaGrad).toBeGreaterThan(c.alphaGrad);
    // Observed photo-luma gradient under the boundary: refined 46.7, coarse 34.3 (the matte's
    // edge moved onto the photo's edges).
    expect(r.imageGrad).toBeGreaterThan(1.2 * c.imageGrad);
    // Refinement moves edges, it does not redraw the silhouette.
    expect(iou(alpha, curved)).toBeGreaterThan(0.95);
  });

  it('maps the mask back onto non-square photos (stretched and letterboxed)', async () => {
    // A 3:4 head-and-shoulders crop; the same crop of the square photo's matte is the reference.
    const box = { left: 95, top: 0, width: 255, height: 340 };
    const crop = await rgb(`${fixtures}astronaut.png`, box);
    const reference = new Uint8Array(box.width * box.height);
    for (let y = 0; y < box.height; y++) {
      for (let x = 0; x < box.width; x++) reference[y * box.width + x] = alpha[(y + box.top) * 512 + x + box.left];
    }
    const letterboxed = await createSegmenter({ providers: ['cpu'], fit: 'letterbox' });
    for (const seg of [segmenter, letterboxed]) {
      const m = await seg.segment(crop);
      expect(m.imageWidth).toBe(255);
      expect(m.imageHeight).toBe(340);
      const a = refineMask(crop, m);
      expect(a).toHaveLength(255 * 340);
      expect(patch(a, 255, 130, 125).min).toBeGreaterThan(200); // face
      expect(patch(a, 255, 245, 100).max).toBeLessThan(40); // backdrop
      // Observed IoU with the reference: 0.995 stretched, 0.994 letterboxed.
      expect(iou(a, reference)).toBeGreaterThan(0.95);
    }
    const lb = await letterboxed.segment(crop);
    expect(lb.region).toEqual({ x: 32, y: 0, width: 192, height: 256 });
    // Ignoring the letterbox's region squeezes the mask into the padded square: observed IoU 0.75.
    const wrong = refineMask(crop, { ...lb, region: undefined });
    expect(iou(wrong, reference)).toBeLessThan(0.9);
  });

  it('refineMask at 1024 px (radius and subsampling scale with the photo)', async () => {
    const { data, info } = await sharp(`${fixtures}astronaut.png`)
      .removeAlpha()
      .resize(1024, 1024)
      .raw()
      .toBuffer({ resolveWithObject: true });
    const big: RgbImage = { data, width: info.width, height: info.height };
    const a = refineMask(big, await segmenter.segment(big));
    expect(a).toHaveLength(1024 * 1024);
    expect(patch(a, 1024, 450, 250).min).toBeGreaterThan(200);
    expect(patch(a, 1024, 1012, 10).max).toBeLessThan(40);
    // The same matte as at 512 px, to within the resampling (observed IoU 0.995).
    const small = new Uint8Array(512 * 512);
    for (let y = 0; y < 512; y++) for (let x = 0; x < 512; x++) small[y * 512 + x] = a[2 * y * 1024 + 2 * x];
    expect(iou(small, alpha)).toBeGreaterThan(0.97);
  });

  it('the planar composite (what the style graph takes) is the packed composite, byte for byte / 255', () => {
    const bg = solidImage(512, 512, [20, 200, 90]);
    const rim = new Uint8Array(alpha.length).map((_, i) => (alpha[i] > 0 && alpha[i] < 255 ? 255 : 0));
    for (const opts of [{}, { gain: [1.1, 0.95, 1.3] as const, wrap: { strength: 0.3, rim } }]) {
      const packed = composite(image, alpha, bg, opts).data;
      const n = alpha.length;
      const planar = compositePlanar(image, alpha, bg, new Float32Array(n * 3).fill(NaN), opts);
      let wrong = 0;
      for (let i = 0; i < n; i++)
        for (let c = 0; c < 3; c++) wrong += planar[c * n + i] === Math.fround(packed[3 * i + c] / 255) ? 0 : 1;
      expect(wrong).toBe(0);
    }
    expect(() => compositePlanar(image, alpha, bg, new Float32Array(10))).toThrow(/planar/);
  });

  it('composite onto a flat colour: opaque pixels keep the photo, transparent ones take the colour', () => {
    const grey: [number, number, number] = [128, 128, 128];
    const bg = solidImage(512, 512, grey);
    {
      const out = composite(image, alpha, bg);
      expect(out.width).toBe(512);
      expect(out.height).toBe(512);
      expect(out.data).toHaveLength(512 * 512 * 3);
      let opaque = 0;
      let clear = 0;
      let wrongOpaque = 0;
      let wrongClear = 0;
      let outOfRange = 0;
      for (let i = 0; i < alpha.length; i++) {
        const a = alpha[i];
        if (a === 255) opaque++;
        if (a === 0) clear++;
        for (let c = 0; c < 3; c++) {
          const o = out.data[3 * i + c];
          const f = image.data[3 * i + c];
          if (a === 255) wrongOpaque += o === f ? 0 : 1;
          else if (a === 0) wrongClear += o === grey[c] ? 0 : 1;
          else if (o < Math.min(f, grey[c]) || o > Math.max(f, grey[c])) outOfRange++; // plain blend: between the two
        }
      }
      expect(wrongOpaque).toBe(0);
      expect(wrongClear).toBe(0);
      expect(outOfRange).toBe(0);
      // Both sides are substantial, and the face (eyes to chin, inside the jaw line) is opaque, so unchanged.
      expect(opaque).toBeGreaterThan(0.3 * alpha.length);
      expect(clear).toBeGreaterThan(0.3 * alpha.length);
      let face = 0;
      for (let y = 85; y < 160; y++) {
        for (let x = 192; x < 252; x++) {
          const i = y * 512 + x;
          if (
            alpha[i] === 255 &&
            out.data[3 * i] === image.data[3 * i] &&
            out.data[3 * i + 1] === image.data[3 * i + 1] &&
            out.data[3 * i + 2] === image.data[3 * i + 2]
          )
            face++;
        }
      }
      expect(face).toBe(75 * 60);
    }
  });

  it('guided filter basics: box means, constant masks, curve off, input checks', () => {
    // boxMean against brute force on a random 37x23 image (window clipped at the borders).
    const w = 37;
    const h = 23;
    const src = new Float32Array(w * h).map((_, i) => Math.sin(i * 12.9898) * 0.5 + 0.5);
    const dst = new Float32Array(w * h);
    for (const r of [1, 3, 30]) {
      boxMean(src, dst, w, h, r, new Float64Array(w));
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          let s = 0;
          let n = 0;
          for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++) {
            for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++) {
              s += src[yy * w + xx];
              n++;
            }
          }
          expect(Math.abs(dst[y * w + x] - s / n)).toBeLessThan(1e-5);
        }
      }
    }
    // A constant mask stays constant whatever the photo.
    const full = { mask: new Float32Array(256 * 256).fill(1), width: 256, height: 256 };
    const none = { mask: new Float32Array(256 * 256), width: 256, height: 256 };
    expect(refineMask(image, full).every((v) => v === 255)).toBe(true);
    expect(refineMask(image, none).every((v) => v === 0)).toBe(true);
    const half = refineMask(
      image,
      { mask: new Float32Array(256 * 256).fill(0.5), width: 256, height: 256 },
      { curve: false },
    );
    expect(half.every((v) => v === 128)).toBe(true);
    for (const guide of ['rgb', 'luma'] as const) {
      const odd: RgbImage = { data: image.data.subarray(0, 301 * 7 * 3), width: 301, height: 7 };
      expect(refineMask(odd, full, { guide })).toHaveLength(301 * 7);
    }
    // Bad inputs are refused with a message.
    expect(() => refineMask({ data: new Uint8Array(10), width: 2, height: 2 }, full)).toThrow(/packed RGB/);
    expect(() => refineMask(image, { mask: new Float32Array(10), width: 256, height: 256 })).toThrow(/coarse mask/);
    expect(() => refineMask(image, coarse, { eps: 0 })).toThrow(/eps/);
    expect(() => composite(image, alpha.subarray(1), image)).toThrow(/alpha/);
    expect(() => composite(image, alpha, solidImage(10, 10, [0, 0, 0]))).toThrow(/background/);
  });
});

/**
 * Plain-loop reference for models/style-graph.ts, written from the maths in that file's header (not
 * from the graph): float64 throughout, one step at a time, the grade applied as exposure, white
 * balance, contrast and saturation in turn rather than as the folded 1x1 convolution.
 */
import { LUMA, SMOOTHING, type Look } from '../../models/style-graph';

/** Mean over a (2 * radius + 1)^2 window, averaging only the pixels inside the plane. */
function boxMean(plane: Float64Array, w: number, h: number, radius: number): Float64Array {
  const out = new Float64Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let sum = 0;
      let n = 0;
      for (let yy = Math.max(0, y - radius); yy <= Math.min(h - 1, y + radius); yy++) {
        for (let xx = Math.max(0, x - radius); xx <= Math.min(w - 1, x + radius); xx++) {
          sum += plane[yy * w + xx];
          n++;
        }
      }
      out[y * w + x] = sum / n;
    }
  }
  return out;
}

/** Bilinear resize, half-pixel centres, coordinates clamped to the source (ONNX Resize 'linear'). */
function resizeBilinear(src: Float64Array, sw: number, sh: number, dw: number, dh: number): Float64Array {
  const out = new Float64Array(dw * dh);
  const axis = (d: number, dn: number, sn: number) => {
    const c = Math.min(sn - 1, Math.max(0, (d + 0.5) * (sn / dn) - 0.5));
    const i0 = Math.floor(c);
    const i1 = Math.min(sn - 1, i0 + 1);
    return { i0, i1, f: c - i0 };
  };
  for (let y = 0; y < dh; y++) {
    const ay = axis(y, dh, sh);
    for (let x = 0; x < dw; x++) {
      const ax = axis(x, dw, sw);
      const top = src[ay.i0 * sw + ax.i0] * (1 - ax.f) + src[ay.i0 * sw + ax.i1] * ax.f;
      const bottom = src[ay.i1 * sw + ax.i0] * (1 - ax.f) + src[ay.i1 * sw + ax.i1] * ax.f;
      out[y * dw + x] = top * (1 - ay.f) + bottom * ay.f;
    }
  }
  return out;
}

/** Self-guided filter delta for one channel: s * (guided(x) - x), computed as in the header. */
function smoothingDelta(x: Float64Array, w: number, h: number, s: number): Float64Array {
  const f = SMOOTHING.pool;
  const lw = Math.floor(w / f); // a trailing partial block is left out
  const lh = Math.floor(h / f);
  const P = new Float64Array(lw * lh);
  for (let by = 0; by < lh; by++) {
    for (let bx = 0; bx < lw; bx++) {
      let sum = 0;
      let n = 0;
      for (let y = by * f; y < by * f + f; y++) {
        for (let xx = bx * f; xx < bx * f + f; xx++) {
          sum += x[y * w + xx];
          n++;
        }
      }
      P[by * lw + bx] = sum / n;
    }
  }
  const radius = (SMOOTHING.box - 1) / 2;
  const mP = boxMean(P, lw, lh, radius);
  const mPP = boxMean(
    P.map((v) => v * v),
    lw,
    lh,
    radius,
  );
  const a = new Float64Array(lw * lh); // guided filter a
  const b = new Float64Array(lw * lh); // guided filter b
  for (let i = 0; i < lw * lh; i++) {
    const variance = Math.max(0, mPP[i] - mP[i] * mP[i]);
    a[i] = variance / (variance + SMOOTHING.eps);
    b[i] = mP[i] - a[i] * mP[i];
  }
  const A = resizeBilinear(boxMean(a, lw, lh, radius), lw, lh, w, h);
  const B = resizeBilinear(boxMean(b, lw, lh, radius), lw, lh, w, h);
  const out = new Float64Array(w * h);
  for (let i = 0; i < w * h; i++) out[i] = s * (A[i] * x[i] + B[i] - x[i]);
  return out;
}

/**
 * The look applied to an NCHW float32 image (3 x height x width, sRGB 0..1) with a skin mask
 * (height x width) and light [cx, cy, radius, aspect]. Returns NCHW float32.
 */
export function referenceStyle(
  look: Look,
  image: Float32Array,
  skin: Float32Array,
  width: number,
  height: number,
  light: readonly [number, number, number, number],
): Float32Array {
  const n = width * height;
  const ch = [0, 1, 2].map((c) => Float64Array.from(image.subarray(c * n, (c + 1) * n)));

  // 1. skin smoothing
  if (look.skinSmoothing > 0) {
    for (const plane of ch) {
      const delta = smoothingDelta(plane, width, height, look.skinSmoothing);
      for (let i = 0; i < n; i++) plane[i] = plane[i] + skin[i] * delta[i];
    }
  }

  // 2. key light
  if (look.keyLight > 0) {
    const [cx, cy, r0, aspect0] = light;
    const r = Math.max(r0, 1e-3);
    const aspect = aspect0 > 0 ? aspect0 : 1;
    const S = Math.min(width, height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const u = (x + 0.5 - cx * width) / S;
        const v = (y + 0.5 - cy * height) / (S * aspect);
        const gain = 1 + look.keyLight * Math.exp(-(u * u + v * v) / (2 * r * r));
        for (const plane of ch) plane[y * width + x] *= gain;
      }
    }
  }

  // 3. grade, step by step
  const wb = [1 + look.warmth, 1, 1 - look.warmth];
  for (let i = 0; i < n; i++) {
    const px = ch.map((plane, c) => (plane[i] * look.exposure * wb[c] - 0.5) * look.contrast + 0.5);
    const luma = LUMA[0] * px[0] + LUMA[1] * px[1] + LUMA[2] * px[2];
    for (let c = 0; c < 3; c++) ch[c][i] = look.monochrome ? luma : luma + look.saturation * (px[c] - luma);
  }

  // 4. vignette
  if (look.vignette > 0) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const du = (x + 0.5) / width - 0.5;
        const dv = (y + 0.5) / height - 0.5;
        const rho2 = 2 * (du * du + dv * dv);
        const factor = 1 - look.vignette * rho2 * rho2;
        for (const plane of ch) plane[y * width + x] *= factor;
      }
    }
  }

  // 5. clip
  const out = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) for (let i = 0; i < n; i++) out[c * n + i] = Math.min(1, Math.max(0, ch[c][i]));
  return out;
}

import sharp from 'sharp';
import { STYLES } from '../core/catalog';
import { loadConfig } from '../core/config';
import { decodeRgb, normaliseUpload } from '../core/images';
import { createFaceDetector } from '../models/face-detector';
import { createLandmarker } from '../models/landmarks';
import { createSegmenter } from '../models/segmenter';
import { createStyleRunner } from '../models/style-graph';
import { createUpscaler } from '../models/upscaler';
import { createAnalyser, thresholdsFrom } from '../worker/analysis';
import { prepare, renderStyle } from '../worker/render';
import { selfieCrops } from '../test/support/selfie-crops';
const config = loadConfig({});
const providers = ['cpu'];
const models = { segmenter: await createSegmenter({ providers }), styles: createStyleRunner({ providers }), upscalers: { 2: await createUpscaler({ providers, scale: 2 }), 4: await createUpscaler({ providers, scale: 4 }) } as any, detector: await createFaceDetector({ providers }), landmarker: await createLandmarker({ providers }) };
const analyser = await createAnalyser({ providers, presenceMin: config.FACE_PRESENCE_MIN, thresholds: thresholdsFrom(config) });
function streaks(rgb: Uint8Array, alpha: Uint8Array, w: number, h: number, side: string, tol: number, run = 24) {
  const band = Math.round((side === 'top' || side === 'bottom' ? h : w) * 0.15);
  const lines = side === 'top' || side === 'bottom' ? w : h;
  let found = 0, person = 0;
  for (let l = 0; l < lines; l++) {
    const at = (i: number) => side === 'top' ? i * w + l : side === 'bottom' ? (h - 1 - i) * w + l : side === 'left' ? l * w + i : l * w + (w - 1 - i);
    let longest = 0, current = 0, any = false;
    for (let i = 0; i < band - 1; i++) {
      const a = at(i), b = at(i + 1);
      if (alpha[a] <= 128) { current = 0; continue; }
      any = true;
      const same = Math.abs(rgb[a * 3] - rgb[b * 3]) <= tol && Math.abs(rgb[a * 3 + 1] - rgb[b * 3 + 1]) <= tol && Math.abs(rgb[a * 3 + 2] - rgb[b * 3 + 2]) <= tol;
      current = same ? current + 1 : 0;
      longest = Math.max(longest, current);
    }
    if (any) person++;
    if (longest >= run) found++;
  }
  return `${found}/${person}`;
}
let MIN_ALONG = 0;
function repeated(rgb: Uint8Array, alpha: Uint8Array, w: number, h: number, side: string, tol: number) {
  const vertical = side === 'top' || side === 'bottom';
  const band = Math.round((vertical ? h : w) * 0.15), len = vertical ? w : h;
  let cur = 0, longest = 0, fromEdge = 0;
  for (let i = 0; i < band - 1; i++) {
    const line = (k: number) => side === 'top' ? k : side === 'bottom' ? h - 1 - k : side === 'left' ? k : w - 1 - k;
    const a0 = line(i), b0 = line(i + 1);
    let n = 0, same = 0, along = 0;
    for (let j = 0; j < len; j++) {
      const a = vertical ? a0 * w + j : j * w + a0, b = vertical ? b0 * w + j : j * w + b0;
      if (alpha[a] <= 128) continue;
      n++;
      const next = vertical ? a0 * w + Math.min(j + 1, len - 1) : Math.min(j + 1, len - 1) * w + a0;
      along += Math.abs(rgb[a * 3 + 1] - rgb[next * 3 + 1]);
      if (Math.abs(rgb[a * 3] - rgb[b * 3]) <= tol && Math.abs(rgb[a * 3 + 1] - rgb[b * 3 + 1]) <= tol && Math.abs(rgb[a * 3 + 2] - rgb[b * 3 + 2]) <= tol) same++;
    }
    if (n >= 32 && same >= 0.9 * n && along / n > MIN_ALONG) { cur++; longest = Math.max(longest, cur); if (fromEdge === i) fromEdge++; } else if (n >= 32) cur = 0; else if (fromEdge === i) fromEdge++;
  }
  return `${fromEdge}/${longest}`;
}
function textured(rgb: Uint8Array, alpha: Uint8Array, w: number, h: number, side: string, across: number, along: number) {
  const vertical = side === 'top' || side === 'bottom';
  const band = Math.round((vertical ? h : w) * 0.15), len = vertical ? w : h;
  const luma = (i: number) => 0.299 * rgb[i * 3] + 0.587 * rgb[i * 3 + 1] + 0.114 * rgb[i * 3 + 2];
  let count = 0;
  for (let i = 0; i < band - 1; i++) {
    const line = (k: number) => side === 'top' ? k : side === 'bottom' ? h - 1 - k : side === 'left' ? k : w - 1 - k;
    const a0 = line(i), b0 = line(i + 1);
    let n = 0, ac = 0, al = 0;
    for (let j = 0; j < len - 1; j++) {
      const a = vertical ? a0 * w + j : j * w + a0, b = vertical ? b0 * w + j : j * w + b0, next = vertical ? a0 * w + j + 1 : (j + 1) * w + a0;
      if (alpha[a] <= 128 || alpha[next] <= 128) continue;
      n++;
      ac += Math.abs(luma(a) - luma(b));
      al += Math.abs(luma(a) - luma(next));
    }
    if (n >= 32 && ac / n < across && al / n > along) count++;
  }
  return count;
}
for (const c of await selfieCrops()) {
  const stored = await normaliseUpload(c.data, 5e7);
  const g = (await analyser.analyse(await decodeRgb(stored.data))).geometry!;
  const p = await prepare(models as any, stored.data, g, 1024);
  const out = await renderStyle(models as any, p, STYLES[0], config.FACE_TRUE_TOLERANCE);
  const { data } = await sharp(out.jpeg).raw().toBuffer({ resolveWithObject: true });
  const W = p.frame.width, H = p.frame.height;
  const row = [];
  for (const side of ['top', 'bottom', 'left', 'right']) for (const m of [0, 0.5, 1, 2]) { MIN_ALONG = m; row.push(`${side}@${m}: ${repeated(data, p.alpha, W, H, side, 3).split('/')[1]}`); }
  console.log(c.name, out.faceTrue.ok, row.join(' | '));
  await sharp(out.jpeg).toFile(`/tmp/issue11-calib-${process.env.TAG}-${c.name}.jpg`);
}

import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { STYLES } from '../../core/orders/catalog';
import { loadConfig } from '../../core/platform/config';
import { decodeRgb, normaliseUpload } from '../../core/photos/images';
import { loadRenderModels } from '../../worker/pixel-work';
import { createAnalyser, thresholdsFrom, type Analyser } from '../../worker/analysis';
import { EYE_LINE_RANGE, headCutOff, toSource, type Frame } from '../../worker/framing';
import { prepare, renderStyle, type FaceGeometry, type RenderModels } from '../../worker/render';
import { SELFIE_CROPS, selfieCrops, type SelfieCrop } from '../support/selfie-crops';

/**
 * Issue 11: every output pixel comes from the photo or from the backdrop. Each phone-style crop
 * is rendered from a copy whose outermost pixels are marked magenta: a render that reads beyond
 * the photo repeats them across the frame; one that stays inside shows them at most along the
 * photo's own edge.
 */
const config = loadConfig({});
const RING = 2;
let models: RenderModels;
let analyser: Analyser;
let crops: SelfieCrop[];

beforeAll(async () => {
  const providers = ['cpu'];
  models = await loadRenderModels({ providers, matting: { model: 'selfie' } });
  analyser = await createAnalyser({
    providers,
    presenceMin: config.FACE_PRESENCE_MIN,
    thresholds: thresholdsFrom(config),
  });
  crops = await selfieCrops();
});

/** The stored original with its outer RING pixels magenta, as lossless PNG. */
async function marked(original: Buffer): Promise<Buffer> {
  const { data, info } = await sharp(original).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  for (let y = 0; y < info.height; y++) {
    for (let x = 0; x < info.width; x++) {
      if (x >= RING && y >= RING && x < info.width - RING && y < info.height - RING) continue;
      data.set([255, 0, 255], (y * info.width + x) * 3);
    }
  }
  return sharp(data, { raw: info }).png().toBuffer();
}

/** How far a frame pixel's source point lies inside the photo (negative: beyond it), source px. */
function depth(f: Frame, x: number, y: number): number {
  const p = toSource(f, { x: x + 0.5, y: y + 0.5 });
  return Math.min(p.x, p.y, f.photo.width - p.x, f.photo.height - p.y);
}

/**
 * The longest run of repeated lines (rows at the top or bottom, columns at the sides) in the
 * outer 15 % of the output: a line repeats when at least 90 % of its person pixels are within 3
 * levels of the next line's while the line itself is textured (mean step along it above 1
 * level). Near-black pixels are left out: a dark collar is flat for real. Smeared edges repeat
 * one textured line over and over. Measured on these fixtures in studio-grey: the
 * edge-repeating renderer gave runs of 36-191 lines where it smeared; this one at most 7.
 */
function repeatedRun(
  rgb: Buffer,
  alpha: Uint8Array,
  w: number,
  h: number,
  side: 'top' | 'bottom' | 'left' | 'right',
): number {
  const vertical = side === 'top' || side === 'bottom';
  const band = Math.round((vertical ? h : w) * 0.15),
    len = vertical ? w : h;
  const line = (k: number) => (side === 'bottom' ? h - 1 - k : side === 'right' ? w - 1 - k : k);
  const at = (l: number, j: number) => (vertical ? l * w + j : j * w + l);
  let run = 0,
    longest = 0;
  for (let i = 0; i < band - 1; i++) {
    const l = line(i),
      next = line(i + 1);
    let n = 0,
      same = 0,
      along = 0;
    for (let j = 0; j < len - 1; j++) {
      const a = at(l, j),
        b = at(next, j),
        c = at(l, j + 1);
      if (alpha[a] <= 128 || (rgb[a * 3] < 48 && rgb[a * 3 + 1] < 48 && rgb[a * 3 + 2] < 48)) continue;
      n++;
      along += Math.abs(rgb[a * 3 + 1] - rgb[c * 3 + 1]);
      if (
        Math.abs(rgb[a * 3] - rgb[b * 3]) <= 3 &&
        Math.abs(rgb[a * 3 + 1] - rgb[b * 3 + 1]) <= 3 &&
        Math.abs(rgb[a * 3 + 2] - rgb[b * 3 + 2]) <= 3
      )
        same++;
    }
    if (n < 32) continue;
    run = same >= 0.9 * n && along / n > 1 ? run + 1 : 0;
    longest = Math.max(longest, run);
  }
  return longest;
}

describe('issue 11: headshots from tight crops and small photos', () => {
  it('the fixtures are what they say: phone-size crops, usable unless the head is cut, cut heads named by headCutOff and the verdict', async () => {
    for (const c of crops) {
      const stored = await normaliseUpload(c.data, config.UPLOAD_MAX_PIXELS);
      const { verdict, geometry } = await analyser.analyse(await decodeRgb(stored.data));
      expect(verdict.usable, c.name).toBe(!c.headCut);
      if (c.headCut) expect(verdict.reasons, c.name).toMatchObject([{ code: 'head_cut_off', side: c.headCut }]);
      expect(Math.max(stored.width, stored.height), c.name).toBeLessThanOrEqual(600);
      expect(headCutOff(geometry!, stored), c.name).toEqual(c.headCut ? [c.headCut] : []);
    }
  });

  for (const name of SELFIE_CROPS) {
    it(`${name}: rendered with no sample beyond the photo, no repeated edge rows or columns, and the face kept true`, async () => {
      const c = crops.find((x) => x.name === name)!;
      const stored = await normaliseUpload(c.data, config.UPLOAD_MAX_PIXELS);
      const geometry: FaceGeometry = (await analyser.analyse(await decodeRgb(stored.data))).geometry!;
      const p = await prepare(models, await marked(stored.data), geometry, config.HEADSHOT_SIZE);
      const { frame, framed, alpha } = p;
      expect(frame.eyeAt.y, c.name).toBeGreaterThanOrEqual(EYE_LINE_RANGE[0] - 1e-9);
      expect(frame.eyeAt.y, c.name).toBeLessThanOrEqual(EYE_LINE_RANGE[1] + 1e-9);

      // Magenta only where the frame shows the photo's own marked edge; beyond it, only backdrop.
      let stray = 0,
        beyond = 0;
      for (let y = 0; y < frame.height; y++) {
        for (let x = 0; x < frame.width; x++) {
          const i = y * frame.width + x;
          const d = depth(frame, x, y);
          if (d < -1) {
            beyond++;
            if (alpha[i] !== 0) stray++;
            continue;
          }
          const magenta = framed.data[i * 3] > 180 && framed.data[i * 3 + 1] < 90 && framed.data[i * 3 + 2] > 180;
          if (magenta && d > RING + 3) stray++;
        }
      }
      expect(stray, `${c.name}: pixels sampled beyond the photo or shown there`).toBe(0);
      expect(beyond, c.name).toBe(p.outside > 0 ? beyond : 0);

      // A solid, a gradient and the photo's own blurred background (which must not take in what lies beyond the photo).
      for (const style of STYLES.filter((s) =>
        ['studio-grey', 'navy-gradient', 'own-background-blur'].includes(s.id),
      )) {
        const out = await renderStyle(models, p, style, config.FACE_TRUE_TOLERANCE);
        expect(out.faceTrue.ok, `${c.name} ${style.id}: face-true error ${out.faceTrue.error}`).toBe(true);
        const { data } = await sharp(out.jpeg).raw().toBuffer({ resolveWithObject: true });
        for (const side of ['top', 'bottom', 'left', 'right'] as const) {
          expect(
            repeatedRun(data, alpha, frame.width, frame.height, side),
            `${c.name} ${style.id}: lines repeated at the ${side}`,
          ).toBeLessThan(16);
        }
      }
    });
  }
});

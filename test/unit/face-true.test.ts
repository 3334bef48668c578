import { beforeAll, describe, expect, it } from 'vitest';
import { findStyle } from '../../core/orders/catalog';
import { loadConfig } from '../../core/platform/config';
import { decodeRgb, normaliseUpload } from '../../core/photos/images';
import type { RgbImage } from '../../models/face-detector';
import { createAnalyser, thresholdsFrom } from '../../worker/analysis';
import { faceTrue } from '../../worker/face-true';
import { loadRenderModels } from '../../worker/pixel-work';
import { prepare, renderStyle, stylePixels, type Prepared, type RenderModels } from '../../worker/render';
import { warpFace } from '../support/face-warp';
import { readCrop, REAL_SET } from '../support/real-set';

// Real renders of real people (the labelled set's usable crops): a phone photo whose face needs no
// enlarging, a head-and-shoulders crop enlarged x2 and a small photo enlarged x4 by ESRGAN.
const PHOTOS = ['p3-dark-phone.jpg', 'p3-curls-hs.jpg', 'p6-red-400.jpg'];
const STYLE_IDS = ['studio-grey', 'monochrome', 'warm-office'];

const config = loadConfig({});
const tolerance = config.FACE_TRUE_TOLERANCE;
let models: RenderModels;
const prepared = new Map<string, Prepared>();

beforeAll(async () => {
  const providers = ['cpu'];
  models = await loadRenderModels({ providers, matting: { model: 'selfie' } });
  const analyser = await createAnalyser({
    providers,
    presenceMin: config.FACE_PRESENCE_MIN,
    thresholds: thresholdsFrom(config),
  });
  for (const file of PHOTOS) {
    const crop = REAL_SET.find((c) => c.file === file)!;
    expect(crop.usable).toBe(true);
    const stored = (await normaliseUpload(await readCrop(crop), config.UPLOAD_MAX_PIXELS)).data;
    const { geometry } = await analyser.analyse(await decodeRgb(stored));
    prepared.set(file, await prepare(models, stored, geometry!, config.HEADSHOT_SIZE));
  }
}, 300_000);

describe('the face-true check on real photos', () => {
  it('the photos cover faces not enlarged and enlarged by ESRGAN', () => {
    expect(new Set(PHOTOS.map((f) => prepared.get(f)!.upscaled)).size).toBeGreaterThan(1);
  });

  for (const file of PHOTOS) {
    it(`${file}: every unchanged render passes; an eye moved or the nose widened by 5 % of the eye distance fails`, async () => {
      const p = prepared.get(file)!;
      for (const id of STYLE_IDS) {
        const image: RgbImage = {
          data: await stylePixels(models, p, findStyle(id)!),
          width: p.frame.width,
          height: p.frame.height,
        };
        const plain = faceTrue(p.truth, image, tolerance);
        expect(plain.ok, `${id}: error ${plain.error} at ${plain.worst}`).toBe(true);
        const eye = faceTrue(p.truth, warpFace(image, p.truth.at, 'eye', 0.05), tolerance);
        expect(eye.ok, `${id}: eye moved, error ${eye.error}`).toBe(false);
        expect(eye.worst).toBe('leftEye');
        const nose = faceTrue(p.truth, warpFace(image, p.truth.at, 'nose', 0.05), tolerance);
        expect(nose.ok, `${id}: nose widened, error ${nose.error}`).toBe(false);
        expect(['noseLeft', 'noseRight']).toContain(nose.worst);
      }
    });
  }

  it('is blind to light and colour: a key light, a colour cast and a contrast curve on the framed photo pass', () => {
    const p = prepared.get(PHOTOS[1])!;
    const { width, height, data } = p.framed;
    const relit = Buffer.alloc(data.length);
    const light = p.truth.at.noseTip;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        // A warm light from the upper left, falling off over the face, under an S-curve.
        const gain = 0.75 + 0.5 * Math.exp(-((x - light.x + 150) ** 2 + (y - light.y + 200) ** 2) / (2 * 260 ** 2));
        for (let c = 0; c < 3; c++) {
          const v = (data[(y * width + x) * 3 + c] / 255) * gain * [1.08, 1, 0.88][c];
          relit[(y * width + x) * 3 + c] = Math.max(
            0,
            Math.min(255, Math.round(255 * (v < 0.5 ? 2 * v * v : 1 - 2 * (1 - v) ** 2))),
          );
        }
      }
    }
    const check = faceTrue(p.truth, { data: relit, width, height }, tolerance);
    expect(check.ok, `error ${check.error} at ${check.worst}`).toBe(true);
    // The same photo moved by 3 % of the eye distance is not the same face in the same place.
    const shift = Math.round(0.03 * p.truth.iod);
    const moved = Buffer.from(data);
    for (let y = 0; y < height; y++)
      moved.set(data.subarray(y * width * 3, (y + 1) * width * 3 - shift * 3), y * width * 3 + shift * 3);
    expect(faceTrue(p.truth, { data: moved, width, height }, tolerance).ok).toBe(false);
  });

  it('a tolerance set very low (FACE_TRUE_TOLERANCE) fails an unchanged render: the hook for tests of a withheld headshot', async () => {
    const low = loadConfig({ FACE_TRUE_TOLERANCE: '0.0001' }).FACE_TRUE_TOLERANCE;
    const out = await renderStyle(models, prepared.get(PHOTOS[0])!, findStyle('studio-grey')!, low);
    expect(out.faceTrue.ok).toBe(false);
    expect(out.faceTrue.error).toBeGreaterThan(low);
  });
});

import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { STYLES } from '../../core/orders/catalog';
import { loadConfig } from '../../core/platform/config';
import { decodeRgb, normaliseUpload } from '../../core/photos/images';
import { loadRenderModels } from '../../worker/pixel-work';
import { createAnalyser, thresholdsFrom } from '../../worker/analysis';
import { faceTrue } from '../../worker/face-true';
import { EYE_LINE, toOutput } from '../../worker/framing';
import {
  fivePointsOnRender,
  prepare,
  renderStyle,
  type FaceGeometry,
  type Prepared,
  type RenderModels,
} from '../../worker/render';
import { fixture } from '../support/stack';

const config = loadConfig({});
let models: RenderModels;
let prepared: Prepared;
let original: Buffer;
let geometry: FaceGeometry;

beforeAll(async () => {
  const providers = ['cpu'];
  models = await loadRenderModels({ providers, matting: { model: 'selfie' } });
  original = (await normaliseUpload(await fixture('astronaut.png'), 50_000_000)).data;
  const analyser = await createAnalyser({
    providers,
    presenceMin: config.FACE_PRESENCE_MIN,
    thresholds: thresholdsFrom(config),
  });
  geometry = (await analyser.analyse(await decodeRgb(original))).geometry!;
  prepared = await prepare(models, original, geometry, 1024);
});

describe('SD2 rendering every style of astronaut.png', () => {
  it('SD2 frames head and shoulders at 1024x1280 (4:5), upscaling the small face with ESRGAN', () => {
    expect([prepared.framed.width, prepared.framed.height]).toEqual([1024, 1280]);
    // The astronaut's face is ~105 px wide in a 512 px photo: it needs enlarging for 1024 px output.
    expect(prepared.upscaled).toBe(4);
  });

  for (const style of STYLES) {
    it(`SD2 ${style.id}: eyes on the framing line, a new backdrop, and the face kept true`, async () => {
      const out = await renderStyle(models, prepared, style, config.FACE_TRUE_TOLERANCE);
      expect(out.faceTrue.ok).toBe(true);
      expect(out.faceTrue.error).toBeLessThan(config.FACE_TRUE_TOLERANCE);
      const { data, info } = await sharp(out.jpeg).raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height]).toEqual([1024, 1280]);
      expect((await sharp(out.jpeg).metadata()).exif).toBeUndefined();

      // Eyes found on the output sit where the rule puts them: centred, 40 % from the top, level.
      const found = await fivePointsOnRender(models, { data, width: info.width, height: info.height }, prepared.frame);
      const eyes = [toOutput(prepared.frame, found!.rightEye), toOutput(prepared.frame, found!.leftEye)];
      const mid = { x: (eyes[0].x + eyes[1].x) / 2, y: (eyes[0].y + eyes[1].y) / 2 };
      expect(Math.abs(mid.x - 512)).toBeLessThan(1024 * 0.02);
      expect(Math.abs(mid.y - 1280 * EYE_LINE)).toBeLessThan(1280 * 0.02);
      expect(Math.abs(eyes[0].y - eyes[1].y)).toBeLessThan(6);

      // Backdrop: where the matte says background, the pixels are not the photo's background.
      let diff = 0,
        n = 0;
      for (let i = 0; i < prepared.alpha.length; i += 97) {
        if (prepared.alpha[i] > 5) continue;
        for (let c = 0; c < 3; c++) diff += Math.abs(data[i * 3 + c] - prepared.framed.data[i * 3 + c]);
        n += 3;
      }
      expect(n).toBeGreaterThan(1000);
      expect(diff / n).toBeGreaterThan(style.backdrop.kind === 'own-blur' ? 4 : 20);
    });
  }
});

describe('the face-true check', () => {
  it('SD2 fails on a deliberately warped face, so it is never delivered', async () => {
    const { frame, framed } = prepared;
    // Stretch the lower face downwards by 12 % around the eye line, inside a box around the face.
    const eyeY = frame.height * EYE_LINE;
    const warped = Buffer.from(framed.data);
    for (let y = Math.round(eyeY); y < Math.round(eyeY + 260); y++) {
      const sy = Math.round(eyeY + (y - eyeY) / 1.12);
      for (let x = 340; x < 684; x++)
        for (let c = 0; c < 3; c++) warped[(y * frame.width + x) * 3 + c] = framed.data[(sy * frame.width + x) * 3 + c];
    }
    const result = faceTrue(
      prepared.truth,
      { data: warped, width: frame.width, height: frame.height },
      config.FACE_TRUE_TOLERANCE,
    );
    expect(result.ok).toBe(false);
    expect(['mouthRight', 'mouthLeft', 'upperLip', 'lowerLip', 'noseTip', 'noseRight', 'noseLeft']).toContain(
      result.worst,
    );
    // And the untouched frame passes.
    expect(faceTrue(prepared.truth, framed, config.FACE_TRUE_TOLERANCE).ok).toBe(true);
  });
});

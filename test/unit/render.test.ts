import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeBackdrop } from '../../core/orders/backdrops';
import { STYLES } from '../../core/orders/catalog';
import { loadConfig } from '../../core/platform/config';
import { decodeRgb, normaliseUpload } from '../../core/photos/images';
import { loadRenderModels } from '../../worker/pixel-work';
import { createAnalyser, thresholdsFrom } from '../../worker/analysis';
import { faceTrue } from '../../worker/face-true';
import { EYE_LINE, toOutput } from '../../worker/framing';
import {
  enlargeFromKept,
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

describe('gradient backdrops', () => {
  it('are the radial gradient an SVG renderer (librsvg) draws, within one level, at the frame size and an odd size', async () => {
    for (const style of STYLES) {
      const b = style.backdrop;
      if (b.kind !== 'gradient') continue;
      for (const [width, height] of [
        [1024, 1280],
        [301, 377],
      ]) {
        const svg = Buffer.from(
          `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><defs><radialGradient id="g" cx="50%" cy="30%" r="85%">` +
            `<stop offset="0" stop-color="rgb(${b.top.join(',')})"/><stop offset="1" stop-color="rgb(${b.bottom.join(',')})"/></radialGradient></defs>` +
            `<rect width="100%" height="100%" fill="url(#g)"/></svg>`,
        );
        const drawnBySvg = await sharp(svg).removeAlpha().raw().toBuffer();
        const drawn = await makeBackdrop(b, width, height);
        expect([drawn.width, drawn.height]).toEqual([width, height]);
        let worst = 0;
        for (let i = 0; i < drawnBySvg.length; i++) worst = Math.max(worst, Math.abs(drawn.data[i] - drawnBySvg[i]));
        expect(worst, `${style.id} at ${width}x${height}`).toBeLessThanOrEqual(1);
        // A gradient, not a fill: the top centre and the bottom corner differ as the style says.
        const at = (x: number, y: number) => [0, 1, 2].map((c) => drawn.data[(y * width + x) * 3 + c]);
        expect(at(0, height - 1)).toEqual([...b.bottom]);
        expect(at(width >> 1, Math.round(height * 0.3))).toEqual([...b.top]);
      }
    }
  });
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

describe('a framing again reuses ESRGAN', () => {
  const wall = () => readFile(new URL('../fixtures/real/p5-wall-hs.jpg', import.meta.url));

  it("p5-wall-hs is framed twice (she runs off the photo's edge) with one ESRGAN run", async () => {
    const photo = (await normaliseUpload(await wall(), 50_000_000)).data;
    const analyser = await createAnalyser({
      providers: ['cpu'],
      presenceMin: config.FACE_PRESENCE_MIN,
      thresholds: thresholdsFrom(config),
    });
    const { geometry: g } = await analyser.analyse(await decodeRgb(photo));
    const calls = { upscale: 0, segment: 0 };
    const upscaler = models.upscalers[2];
    const counted: RenderModels = {
      ...models,
      segmenter: {
        ...models.segmenter,
        segment: (im) => {
          calls.segment++;
          return models.segmenter.segment(im);
        },
      },
      upscalers: {
        ...models.upscalers,
        2: {
          ...upscaler,
          upscale: (im) => {
            calls.upscale++;
            return upscaler.upscale(im);
          },
        },
      },
    };
    const p = await prepare(counted, photo, g!, 1024);
    expect(p.upscaled).toBe(2);
    expect(calls.segment, 'framings').toBe(2);
    expect(calls.upscale).toBe(1);
    const out = await renderStyle(models, p, STYLES[0], config.FACE_TRUE_TOLERANCE);
    expect(out.faceTrue.ok).toBe(true);
  });

  it('what it gives for a crop moved by a few pixels is within a few levels of a fresh ESRGAN run', async () => {
    const rgb = await decodeRgb(await wall());
    const cut = async (c: { left: number; top: number; width: number; height: number }) => {
      const { data, info } = await sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } })
        .extract(c)
        .raw()
        .toBuffer({ resolveWithObject: true });
      return { data, width: info.width, height: info.height };
    };
    // As p5-wall's two framings: the second crop 4 px narrower and 2 px taller.
    const first = { left: 0, top: 0, width: rgb.width, height: rgb.height - 2 };
    const second = { left: 0, top: 0, width: rgb.width - 4, height: rgb.height };
    const upscaler = models.upscalers[2];
    const kept = { factor: 2 as const, crop: first, image: await upscaler.upscale(await cut(first)) };
    const small = await cut(second);
    const reused = await enlargeFromKept(kept, 2, second, small);
    const fresh = await upscaler.upscale(small);
    expect(reused).toBeDefined();
    expect([reused!.width, reused!.height]).toEqual([fresh.width, fresh.height]);
    let sum = 0;
    for (let i = 0; i < fresh.data.length; i++) sum += Math.abs(reused!.data[i] - fresh.data[i]);
    expect(sum / fresh.data.length, 'mean |difference|, levels').toBeLessThan(0.5);
    // A crop it holds too little of is left to ESRGAN.
    const upperPart = { ...kept, crop: { ...first, height: Math.round(rgb.height * 0.8) } };
    expect(await enlargeFromKept(upperPart, 2, second, small)).toBeUndefined();
    expect(await enlargeFromKept(kept, 4, second, small)).toBeUndefined();
  });
});

import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config';
import { decodeRgb, normaliseUpload, sniffImageType } from '../../core/images';
import { createAnalyser, thresholdsFrom, type Analyser } from '../../worker/analysis';
import { fixture } from '../support/stack';

let analyser: Analyser;
beforeAll(async () => {
  const config = loadConfig({});
  analyser = await createAnalyser({ providers: ['cpu'], presenceMin: config.FACE_PRESENCE_MIN, thresholds: thresholdsFrom(config) });
});

/** Runs the upload normalisation (orientation, sRGB, strip) then analysis, as the service does. */
async function analyse(input: Buffer) {
  const type = sniffImageType(input)!;
  const stored = await normaliseUpload(input, 50_000_000);
  return analyser.analyse(await decodeRgb(stored.data));
}

const codes = (v: { reasons: { code: string }[] }) => v.reasons.map((r) => r.code);
const astronaut = () => fixture('astronaut.png');

describe('SD1 quality verdicts on real photographs', () => {
  it('SD1 astronaut.png: one usable face with its measurements and no reasons', async () => {
    const { verdict, geometry } = await analyse(await astronaut());
    expect(verdict).toMatchObject({ usable: true, faces: 1, reasons: [] });
    expect(verdict.measurements!.presence).toBeGreaterThan(0.9);
    expect(Math.abs(verdict.measurements!.face_x - 172)).toBeLessThan(10);
    expect(Math.abs(verdict.measurements!.face_y - 74)).toBeLessThan(10);
    expect(geometry!.eyes.right.x).toBeLessThan(geometry!.eyes.left.x);
  });

  it('SD1 camera.png: the verdict names the turned face', async () => {
    const { verdict } = await analyse(await fixture('camera.png'));
    expect(verdict.usable).toBe(false);
    expect(codes(verdict)).toContain('turned_away');
    for (const r of verdict.reasons) expect(r.message.length).toBeGreaterThan(10);
  });

  it('SD1 chelsea.png (a cat) and coffee.png (a cup): no face', async () => {
    for (const name of ['chelsea.png', 'coffee.png']) {
      const { verdict } = await analyse(await fixture(name));
      expect(verdict, name).toMatchObject({ usable: false, faces: 0 });
      expect(codes(verdict)).toEqual(['no_face']);
    }
  });

  const cases: [string, () => Promise<Buffer>, string][] = [
    ['blurred', async () => sharp(await astronaut()).blur(2).png().toBuffer(), 'blurred'],
    ['darkened', async () => sharp(await astronaut()).linear(0.15, 0).png().toBuffer(), 'too_dark'],
    ['over-exposed', async () => sharp(await astronaut()).linear(1.6, 40).png().toBuffer(), 'too_bright'],
    ['shrunk to a 40-px face', async () => {
      const small = await sharp(await astronaut()).resize(195, 195).toBuffer();
      return sharp({ create: { width: 512, height: 512, channels: 3, background: '#7a7a7a' } }).composite([{ input: small, left: 160, top: 160 }]).png().toBuffer();
    }, 'face_too_small'],
    ['two astronauts side by side', async () => {
      const a = await astronaut();
      return sharp({ create: { width: 1024, height: 512, channels: 3, background: '#000' } }).composite([{ input: a, left: 0, top: 0 }, { input: a, left: 512, top: 0 }]).png().toBuffer();
    }, 'several_faces'],
    ['cut by the frame edge', async () => sharp(await astronaut()).extract({ left: 190, top: 0, width: 322, height: 512 }).png().toBuffer(), 'face_cut_off'],
  ];
  for (const [what, make, code] of cases) {
    it(`SD1 ${what}: ${code}`, async () => {
      const { verdict } = await analyse(await make());
      expect(verdict.usable).toBe(false);
      expect(codes(verdict)).toContain(code);
    });
  }

  it('SD1 a photo rotated by EXIF orientation is analysed after the rotation is applied', async () => {
    // Pixels stored lying on their side, with orientation 8 ("rotate 90° anticlockwise to view").
    const sideways = await sharp(await astronaut()).rotate(90).withMetadata({ orientation: 8 }).jpeg({ quality: 95 }).toBuffer();
    const { verdict } = await analyse(sideways);
    expect(verdict.usable).toBe(true);
    expect(Math.abs(verdict.measurements!.roll)).toBeLessThan(10);
    // Without honouring orientation, the same pixels show a face on its side.
    const raw = await sharp(await astronaut()).rotate(90).raw().toBuffer({ resolveWithObject: true });
    const unrotated = await analyser.analyse({ data: raw.data, width: raw.info.width, height: raw.info.height });
    expect(unrotated.verdict.usable).toBe(false);
    expect(codes(unrotated.verdict)).toContain('head_tilted');
  });
});

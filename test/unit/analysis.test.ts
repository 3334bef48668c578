import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/platform/config';
import { decodeRgb, normaliseUpload } from '../../core/photos/images';
import { createAnalyser, thresholdsFrom, type Analyser } from '../../worker/analysis';
import { selfieCrops } from '../support/selfie-crops';
import { SELFIE_FIXTURES } from '../support/selfie-fixtures';
import { fixture } from '../support/stack';

let analyser: Analyser;
beforeAll(async () => {
  const config = loadConfig({});
  analyser = await createAnalyser({
    providers: ['cpu'],
    presenceMin: config.FACE_PRESENCE_MIN,
    thresholds: thresholdsFrom(config),
  });
});

/** Runs the upload normalisation (orientation, sRGB, strip) then analysis, as the service does. */
async function analyse(input: Buffer) {
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
    [
      'darkened',
      async () =>
        sharp(await astronaut())
          .linear(0.15, 0)
          .png()
          .toBuffer(),
      'too_dark',
    ],
    [
      'over-exposed',
      async () =>
        sharp(await astronaut())
          .linear(1.6, 40)
          .png()
          .toBuffer(),
      'too_bright',
    ],
  ];
  for (const [what, make, code] of cases) {
    it(`SD1 ${what}: ${code}`, async () => {
      const { verdict } = await analyse(await make());
      expect(verdict.usable).toBe(false);
      expect(codes(verdict)).toContain(code);
    });
  }

  it('SD1 a sharp photo taken in dim light is too_dark, not blurred (dimming lowers the Laplacian too)', async () => {
    const dim = await sharp(await astronaut())
      .modulate({ brightness: 0.25 })
      .jpeg()
      .toBuffer();
    const { verdict } = await analyse(dim);
    expect(codes(verdict)).toEqual(['too_dark']);
    // Dim and soft is both.
    const dimSoft = await sharp(await astronaut())
      .modulate({ brightness: 0.4 })
      .blur(2)
      .jpeg()
      .toBuffer();
    expect(codes((await analyse(dimSoft)).verdict)).toContain('blurred');
  });

  // The commonest bad selfies each get their true reason; no photo of a real face is 'no_face'.
  for (const f of SELFIE_FIXTURES) {
    it(`SD1 ${f.name}: ${f.expect ? f.expect.code + (f.expect.side ? ` (${f.expect.side})` : '') + (f.expect.angle ? ` (${f.expect.angle}°)` : '') : 'usable'}`, async () => {
      const { verdict } = await analyse(await f.make());
      if (!f.expect) {
        expect(verdict.reasons).toEqual([]);
        expect(verdict.usable).toBe(true);
        return;
      }
      expect(verdict.usable).toBe(false);
      const found = verdict.reasons.find((r) => r.code === f.expect!.code);
      expect(found, JSON.stringify(verdict.reasons)).toBeDefined();
      if (f.expect.code !== 'no_face') expect(codes(verdict)).not.toContain('no_face');
      if (f.expect.side) expect(found!.side).toBe(f.expect.side);
      if (f.expect.angle) expect(found!.angle).toBe(f.expect.angle);
      expect(found!.hint.length).toBeGreaterThan(10);
      if (found!.code === 'face_too_small' || found!.code === 'blurred')
        expect(found!.measured).toBeLessThan(found!.required!);
      if (found!.code === 'several_faces') expect(verdict.boxes).toHaveLength(2);
    });
  }

  it('SD1 a photo whose edge cuts through the head gets head_cut_off naming the side; crops that a frame can hide get none', async () => {
    for (const crop of await selfieCrops()) {
      const { verdict } = await analyse(crop.data);
      const cut = verdict.reasons.find((r) => r.code === 'head_cut_off' || r.code === 'face_cut_off');
      if (crop.headCut) expect(cut, crop.name).toMatchObject({ side: crop.headCut });
      else
        expect(
          verdict.reasons.map((r) => r.code),
          crop.name,
        ).not.toContain('head_cut_off');
    }
  });

  it('SD1 a face 3 % of the shorter side (about 28 px in 1328x928) is found and measured', async () => {
    const { verdict } = await analyse(await SELFIE_FIXTURES.find((f) => f.name.startsWith('face 3 %'))!.make());
    expect(verdict.faces).toBe(1);
    const w = verdict.boxes![0].width;
    expect(w).toBeGreaterThan(18);
    expect(w).toBeLessThan(40);
    // The box is where the face was put (centred).
    expect(Math.abs(verdict.boxes![0].x + w / 2 - 664)).toBeLessThan(20);
  });

  it('SD1 a photo rotated by EXIF orientation is analysed after the rotation is applied', async () => {
    // Pixels stored lying on their side, with orientation 8 ("rotate 90° anticlockwise to view").
    const sideways = await sharp(await astronaut())
      .rotate(90)
      .withMetadata({ orientation: 8 })
      .jpeg({ quality: 95 })
      .toBuffer();
    const { verdict } = await analyse(sideways);
    expect(verdict.usable).toBe(true);
    expect(Math.abs(verdict.measurements!.roll)).toBeLessThan(10);
    // Without honouring orientation, the same pixels show a face on its side.
    const raw = await sharp(await astronaut())
      .rotate(90)
      .raw()
      .toBuffer({ resolveWithObject: true });
    const unrotated = await analyser.analyse({ data: raw.data, width: raw.info.width, height: raw.info.height });
    expect(unrotated.verdict.usable).toBe(false);
    expect(unrotated.verdict.reasons).toMatchObject([{ code: 'rotated', angle: 90 }]);
  });
});

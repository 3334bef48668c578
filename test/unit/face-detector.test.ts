import { describe, it, expect, beforeAll } from 'vitest';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { createFaceDetector, type Face, type FaceDetector, type RgbImage } from '../../models/face-detector';
import { getModel, modelPath, registerModel, verifyModel } from '../../models/registry';
import { createSession, loadOnce } from '../../models/session';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** Decodes like the upload path does: EXIF-rotated, no alpha, 3-channel sRGB (greyscale expanded). */
async function rgb(input: string | Buffer): Promise<RgbImage> {
  const { data, info } = await sharp(input)
    .rotate()
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected 3 channels, got ${info.channels}`);
  return { data, width: info.width, height: info.height };
}

const centre = (f: Face) => ({ x: f.box.x + f.box.width / 2, y: f.box.y + f.box.height / 2 });
const inside = (p: { x: number; y: number }, f: Face) =>
  p.x >= f.box.x && p.x <= f.box.x + f.box.width && p.y >= f.box.y && p.y <= f.box.y + f.box.height;

function capturingLogger() {
  const entries: { level: 'info' | 'warn'; obj: Record<string, unknown>; msg: string }[] = [];
  return {
    entries,
    info: (obj: object, msg: string) => void entries.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
    warn: (obj: object, msg: string) => void entries.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
  };
}

describe('BlazeFace face detector', () => {
  let detector: FaceDetector;

  beforeAll(async () => {
    detector = await createFaceDetector({ providers: ['cpu'] });
  });

  it('finds the one face in astronaut.png', async () => {
    const faces = await detector.detect(await rgb(`${fixtures}astronaut.png`));
    expect(faces).toHaveLength(1);
    const [face] = faces;
    // Observed: score 0.881, box x=172.6 y=73.7 w=h=104.6.
    expect(face.score).toBeGreaterThan(0.7);
    expect(face.score).toBeLessThanOrEqual(1);
    expect(Math.abs(face.box.x - 172)).toBeLessThan(10);
    expect(Math.abs(face.box.y - 74)).toBeLessThan(10);
    expect(Math.abs(face.box.width - 106)).toBeLessThan(10);
    expect(Math.abs(face.box.height - 106)).toBeLessThan(10);

    const k = face.keypoints;
    expect(inside(k.rightEye, face)).toBe(true);
    expect(inside(k.leftEye, face)).toBe(true);
    expect(inside(k.nose, face)).toBe(true);
    expect(inside(k.mouth, face)).toBe(true);
    // The person's right eye is on the image's left (observed x 202.8 vs 248.0).
    expect(k.rightEye.x).toBeLessThan(k.leftEye.x);
    expect(k.rightEar.x).toBeLessThan(k.leftEar.x);
    // Eyes above the nose, nose above the mouth (image y grows downwards).
    expect(Math.max(k.rightEye.y, k.leftEye.y)).toBeLessThan(k.nose.y);
    expect(k.nose.y).toBeLessThan(k.mouth.y);
  });

  it('finds the small turned face in camera.png (greyscale expanded to RGB)', async () => {
    const faces = await detector.detect(await rgb(`${fixtures}camera.png`));
    // Observed: one face, score 0.769, box x=182.3 y=125.3 w=h=72.9.
    expect(faces).toHaveLength(1);
    expect(faces[0].score).toBeGreaterThan(0.6);
    const c = centre(faces[0]);
    expect(Math.abs(c.x - 219)).toBeLessThan(15);
    expect(Math.abs(c.y - 162)).toBeLessThan(15);
  });

  it('gives only weak detections on chelsea.png (cat) and coffee.png, none at scoreThreshold 0.8', async () => {
    // Honest behaviour of this model: at the default threshold 0.6 it reports the cat's face
    // (score ~0.74, box ~x=72 y=41 w=h=217) and a cup-rim false positive in coffee.png (~0.66).
    // Both are below the clear faces here (astronaut 0.88, side by side 0.90), but the cat scores
    // about as high as the real, turned face in camera.png (0.77): a threshold alone cannot
    // separate them.
    for (const name of ['chelsea.png', 'coffee.png']) {
      const faces = await detector.detect(await rgb(fixtures + name));
      expect(faces.length, name).toBeLessThanOrEqual(1);
      for (const f of faces) expect(f.score, name).toBeLessThan(0.8);
    }
    const strict = await createFaceDetector({ providers: ['cpu'], scoreThreshold: 0.8 });
    expect(await strict.detect(await rgb(`${fixtures}chelsea.png`))).toEqual([]);
    expect(await strict.detect(await rgb(`${fixtures}coffee.png`))).toEqual([]);
    expect(await strict.detect(await rgb(`${fixtures}astronaut.png`))).toHaveLength(1);
  });

  it('finds both faces when two astronauts stand side by side', async () => {
    const astronaut = await sharp(`${fixtures}astronaut.png`).removeAlpha().png().toBuffer();
    const pair = await sharp({ create: { width: 1024, height: 512, channels: 3, background: { r: 0, g: 0, b: 0 } } })
      .composite([
        { input: astronaut, left: 0, top: 0 },
        { input: astronaut, left: 512, top: 0 },
      ])
      .png()
      .toBuffer();
    const faces = await detector.detect(await rgb(pair));
    // Observed: two faces, score 0.90 each, boxes x=180.5 and x=692.0, y=77.6, w=h=95.
    expect(faces).toHaveLength(2);
    const [left, right] = [...faces].sort((a, b) => a.box.x - b.box.x);
    expect(Math.abs(centre(right).x - centre(left).x - 512)).toBeLessThan(10);
    expect(Math.abs(centre(right).y - centre(left).y)).toBeLessThan(5);
    expect(Math.abs(centre(left).x - 225)).toBeLessThan(15);
    for (const f of faces) expect(f.score).toBeGreaterThan(0.7);
    expect(faces[0].score).toBeGreaterThanOrEqual(faces[1].score);
  });

  it('finds a face about 40 px wide in a 512x512 photo', async () => {
    // The whole photo shrunk so the ~105 px face becomes ~40 px, centred on grey.
    const side = Math.round((512 * 40) / 105); // 195
    const offset = Math.floor((512 - side) / 2);
    const small = await sharp(`${fixtures}astronaut.png`).removeAlpha().resize(side, side).png().toBuffer();
    const canvas = await sharp({
      create: { width: 512, height: 512, channels: 3, background: { r: 128, g: 128, b: 128 } },
    })
      .composite([{ input: small, left: offset, top: offset }])
      .png()
      .toBuffer();
    const faces = await detector.detect(await rgb(canvas));
    // Observed: detected, and with a HIGHER score than the full-size face (0.915 vs 0.881):
    // this "back camera" model is built for small, distant faces (it still found a 20 px face
    // at 0.80). Its box comes out smaller than the face (~35 px for a 40 px face; ~13 px for 20 px).
    expect(faces).toHaveLength(1);
    const [face] = faces;
    expect(face.score).toBeGreaterThan(0.8);
    expect(face.box.width).toBeGreaterThan(25);
    expect(face.box.width).toBeLessThan(50);
    const s = side / 512;
    const expected = { x: offset + (172.6 + 52.3) * s, y: offset + (73.7 + 52.3) * s };
    expect(Math.abs(centre(face).x - expected.x)).toBeLessThan(8);
    expect(Math.abs(centre(face).y - expected.y)).toBeLessThan(8);
  });

  it('rejects data that is not packed RGB', async () => {
    await expect(detector.detect({ data: new Uint8Array(4 * 4 * 4), width: 4, height: 4 })).rejects.toThrow(
      /packed RGB/,
    );
  });
});

describe('model sessions', () => {
  it('falls back from cuda to cpu and logs the fallback', async () => {
    const logger = capturingLogger();
    const { session, provider } = await createSession(modelPath('blazeface-back-256'), {
      providers: ['cuda', 'cpu'],
      logger,
    });
    expect(provider).toBe('cpu');
    expect(session.inputNames).toEqual(['input:0']);
    const warn = logger.entries.find((e) => e.level === 'warn');
    expect(warn?.obj.provider).toBe('cuda');
    expect(warn?.msg).toMatch(/falling back/);
    expect(logger.entries.some((e) => e.level === 'info' && e.obj.provider === 'cpu')).toBe(true);
  });

  it('loadOnce runs a factory once per key and retries after a failure', async () => {
    let calls = 0;
    const key = `test-${Math.random()}`;
    const factory = async () => ++calls;
    expect(await loadOnce(key, factory)).toBe(1);
    expect(await loadOnce(key, factory)).toBe(1);

    const failKey = `${key}-fail`;
    await expect(
      loadOnce(failKey, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await loadOnce(failKey, async () => 'ok')).toBe('ok');
  });
});

describe('model registry', () => {
  it('verifies the BlazeFace file and records a permissive licence', async () => {
    await expect(verifyModel('blazeface-back-256')).resolves.toBeUndefined();
    expect(['Apache-2.0', 'MIT', 'BSD-2-Clause', 'BSD-3-Clause']).toContain(getModel('blazeface-back-256').licence);
  });

  it('names the model when its checksum differs or its file is missing', async () => {
    const base = getModel('blazeface-back-256');
    registerModel({ ...base, id: 'test-bad-checksum', sha256: '0'.repeat(64) });
    await expect(verifyModel('test-bad-checksum')).rejects.toThrow(/test-bad-checksum.*checksum mismatch/);
    registerModel({ ...base, id: 'test-missing', path: 'models/does-not-exist.onnx' });
    await expect(verifyModel('test-missing')).rejects.toThrow(/test-missing.*missing/);
  });
});

import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/platform/config';
import { decodeRgb, normaliseUpload } from '../../core/photos/images';
import { choosePhotos, type Candidate } from '../../core/orders/ranking';
import { createAnalyser, thresholdsFrom } from '../../worker/analysis';
import { selfieCrops } from '../support/selfie-crops';
import { fixture } from '../support/stack';

/**
 * A person's set as they send it: the portrait, its WebP and greyscale copies, a softer and an
 * enlarged copy, phone-style crops of it, a small one, and one other shot (the portrait mirrored).
 * Judged by the real analysis, then chosen from as an order does.
 */
let set: Candidate[];
beforeAll(async () => {
  const config = loadConfig({});
  const analyser = await createAnalyser({
    providers: ['cpu'],
    presenceMin: config.FACE_PRESENCE_MIN,
    thresholds: thresholdsFrom(config),
  });
  const a = await fixture('astronaut.png');
  const photos: [string, Buffer][] = [
    ['portrait', a],
    ['other shot', await sharp(a).flop().png().toBuffer()],
    ['webp copy', await sharp(a).webp({ quality: 80 }).toBuffer()],
    ['greyscale copy', await sharp(a).greyscale().png().toBuffer()],
    // Soft but usable (slightly_soft advice): at sigma 1 and above the 104-px face is blurred.
    ['soft copy', await sharp(a).blur(0.7).png().toBuffer()],
    ['enlarged copy', await sharp(a).resize(1024).png().toBuffer()],
    ['small', await sharp(a).resize(300).png().toBuffer()],
    ...(await selfieCrops()).filter((c) => c.name !== 'studio-512').map((c) => [c.name, c.data] as [string, Buffer]),
  ];
  set = [];
  for (const [id, data] of photos) {
    const stored = await normaliseUpload(data, config.UPLOAD_MAX_PIXELS);
    set.push({ id, verdict: (await analyser.analyse(await decodeRgb(stored.data))).verdict, excluded: false });
  }
});

describe('SD2 the best photos are chosen', () => {
  it('SD2 the score is built from measured parts, each 0..1, and a sharp native photo outscores its soft, enlarged and greyscale copies', () => {
    const score = (id: string) => set.find((c) => c.id === id)!.verdict!;
    const portrait = score('portrait');
    expect(Object.keys(portrait.score_parts!).sort()).toEqual([
      'colour',
      'eyes_open',
      'face_pixels',
      'frame_width',
      'frontal',
      'head_in_frame',
      'room_below_chin',
      'sharpness',
    ]);
    for (const v of Object.values(portrait.score_parts!)) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    for (const worse of ['soft copy', 'enlarged copy', 'greyscale copy', 'chin-cut-no-shoulders', 'head-only'])
      expect(score(worse).score!, worse).toBeLessThan(portrait.score!);
    // Enlarged: more face pixels, but they were made up, so it is less sharp.
    expect(score('enlarged copy').score_parts!.face_pixels).toBeGreaterThan(portrait.score_parts!.face_pixels);
    expect(score('enlarged copy').score_parts!.sharpness).toBeLessThan(portrait.score_parts!.sharpness);
    expect(score('greyscale copy').score_parts!.colour).toBe(0);
    expect(score('chin-cut-no-shoulders').score_parts!.room_below_chin).toBeLessThan(0.5);
  });

  it('SD2 copies of one photo count once, and a package of two per style takes two different shots, the large sharp ones', () => {
    const choice = choosePhotos(set, 2);
    const chosen = choice.filter((c) => c.chosen).map((c) => c.id);
    expect(chosen).toHaveLength(2);
    expect(chosen).toContain('other shot');
    expect(['portrait', 'webp copy', 'phone-440x512']).toContain(chosen.find((id) => id !== 'other shot'));
    const first = chosen.find((id) => id !== 'other shot')!;
    for (const copy of ['portrait', 'webp copy', 'greyscale copy', 'soft copy', 'enlarged copy'].filter(
      (id) => id !== first,
    )) {
      expect(choice.find((c) => c.id === copy)?.duplicate_of, copy).toBe(first);
    }
    // Unusable photos are not candidates at all.
    expect(choice.map((c) => c.id)).not.toContain('small');
    expect(choice.map((c) => c.id)).not.toContain('top-cut');
  });

  it('SD2 three per style from two different shots makes two, never the same shot twice; an excluded photo is passed over', () => {
    expect(choosePhotos(set, 3).filter((c) => c.chosen)).toHaveLength(2);
    const best = choosePhotos(set, 1).find((c) => c.chosen)!.id;
    const without = choosePhotos(
      set.map((c) => ({ ...c, excluded: c.id === best })),
      1,
    );
    const next = without.find((c) => c.chosen)!;
    expect(next.id).not.toBe(best);
    expect(without.find((c) => c.id === best)).toMatchObject({ excluded: true, chosen: false });
  });
});

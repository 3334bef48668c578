import { monitorEventLoopDelay } from 'node:perf_hooks';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findStyle } from '../../core/orders/catalog';
import { loadConfig } from '../../core/platform/config';
import { normaliseUpload } from '../../core/photos/images';
import { thresholdsFrom } from '../../worker/analysis';
import { PixelPool } from '../../worker/pixel-pool';
import { fixture } from '../support/stack';

const config = loadConfig({});
let pool: PixelPool;
let stored: Buffer;

beforeAll(async () => {
  pool = new PixelPool(2, { providers: ['cuda', 'cpu'], presenceMin: config.FACE_PRESENCE_MIN, thresholds: thresholdsFrom(config), faceTrueTolerance: config.FACE_TRUE_TOLERANCE, headshotSize: 1024, matting: { model: 'selfie' } }, 'silent');
  stored = (await normaliseUpload(await fixture('astronaut.png'), 50_000_000)).data;
});
afterAll(async () => {
  await pool?.close();
});

describe('pixel threads', () => {
  it('SD1 SD2 analysis and rendering run in a thread while the event loop stays free to renew job locks', async () => {
    const { verdict, geometry } = await pool.analyse(stored);
    expect(verdict.usable).toBe(true);

    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const out = await pool.render('pho_test', stored, geometry!, findStyle('navy-gradient')!);
    const again = await pool.render('pho_test', stored, geometry!, findStyle('charcoal')!);
    delay.disable();

    expect(out.faceTrue.ok).toBe(true);
    expect((await sharp(out.jpeg).metadata()).width).toBe(1024);
    // The second style of the same photo reuses its framing and matte in that thread.
    expect(out.timings.segment).toBeGreaterThan(0);
    expect(again.timings).not.toHaveProperty('segment');
    // Hundreds of milliseconds of pixel work, yet the main thread never stalled for long.
    expect(delay.max / 1e6).toBeLessThan(150);
  });

  it("both pixel threads enlarge small faces and run styles through the process's one models thread, at the same time", async () => {
    const { geometry } = await pool.analyse(stored);
    // Keys that land on different threads (the pool picks a thread by the key's hash).
    const lane = (key: string) => [...key].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 0) % 2;
    const keys = ['pho_a', 'pho_b', 'pho_c', 'pho_d'];
    const [k0, k1] = [keys.find((k) => lane(k) === 0)!, keys.find((k) => lane(k) === 1)!];
    const [a, b] = await Promise.all([k0, k1].map((k) => pool.render(k, stored, geometry!, findStyle('studio-grey')!)));
    // The astronaut's face is small for a 1024-px headshot: each render waited for an upscale.
    expect(a.timings.upscale).toBeGreaterThan(0);
    expect(b.timings.upscale).toBeGreaterThan(0);
    expect(a.faceTrue.ok && b.faceTrue.ok).toBe(true);
  });

  it('a pool configured for cuda,cpu still works on this CPU-only machine (each thread falls back to cpu)', async () => {
    // The pool above was configured ['cuda', 'cpu']: CUDA cannot load here, the work still completes.
    const { verdict } = await pool.analyse(stored);
    expect(verdict.faces).toBe(1);
  });
});

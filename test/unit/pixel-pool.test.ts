import { performance } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findStyle } from '../../core/orders/catalog';
import { loadConfig } from '../../core/platform/config';
import { normaliseUpload } from '../../core/photos/images';
import { thresholdsFrom } from '../../worker/analysis';
import { PixelPool } from '../../worker/pixel-pool';
import { PREPARED_VERSION, staleReason } from '../../worker/prepared-form';
import { fixture } from '../support/stack';

const config = loadConfig({});
let pool: PixelPool;
let stored: Buffer;

beforeAll(async () => {
  pool = new PixelPool(
    2,
    {
      providers: ['cuda', 'cpu'],
      presenceMin: config.FACE_PRESENCE_MIN,
      thresholds: thresholdsFrom(config),
      faceTrueTolerance: config.FACE_TRUE_TOLERANCE,
      headshotSize: 1024,
      matting: { model: 'selfie' },
    },
    'silent',
  );
  stored = (await normaliseUpload(await fixture('astronaut.png'), 50_000_000)).data;
});
afterAll(async () => {
  await pool?.close();
});

describe('pixel threads', () => {
  it('SD1 SD2 analysis and rendering run in a thread while the event loop stays free to renew job locks', async () => {
    const { verdict, geometry } = await pool.analyse(stored);
    expect(verdict.usable).toBe(true);

    // How much of the time the event loop was busy (not waiting for I/O): pixel work on this thread
    // would keep it near 1 for the whole render. A loaded machine that deschedules the process adds
    // idle time, not busy time, so unlike a stall threshold this does not depend on the load.
    const before = performance.eventLoopUtilization();
    const out = await pool.render('pho_test', { original: stored }, geometry!, findStyle('navy-gradient')!);
    const again = await pool.render('pho_test', { original: stored }, geometry!, findStyle('charcoal')!);
    const busy = performance.eventLoopUtilization(before);

    expect(out.faceTrue.ok).toBe(true);
    expect((await sharp(out.jpeg).metadata()).width).toBe(1024);
    // The second style of the same photo reuses its framing and matte in that thread.
    expect(out.timings.segment).toBeGreaterThan(0);
    expect(again.timings).not.toHaveProperty('segment');
    // Hundreds of milliseconds of pixel work, yet the main thread was free most of that time.
    expect(busy.utilization).toBeLessThan(0.3);
  });

  it('a render from the stored preparation is the render prepared on the spot, byte for byte, and reads no original', async () => {
    const { geometry } = await pool.analyse(stored);
    const { bytes, timings } = await pool.prepare(stored, geometry!);
    expect(timings.segment).toBeGreaterThan(0);
    expect(staleReason(bytes, 1024)).toBeUndefined();
    const style = findStyle('own-background-blur')!;
    const spot = await pool.render('pho_spot', { original: stored }, geometry!, style);
    const fromStored = await pool.render('pho_stored', { prepared: bytes }, geometry!, style);
    const further = await pool.render('pho_stored', { prepared: bytes }, geometry!, findStyle('charcoal')!);
    expect([spot.preparedFrom, fromStored.preparedFrom, further.preparedFrom]).toEqual(['made', 'stored', 'kept']);
    // Read, not made: no segmentation, no upscale on the stored path.
    expect(fromStored.timings.readPrepared).toBeGreaterThan(0);
    expect(fromStored.timings).not.toHaveProperty('segment');
    expect(fromStored.timings).not.toHaveProperty('upscale');
    expect(Buffer.compare(fromStored.jpeg, spot.jpeg)).toBe(0);
    expect(fromStored.faceTrue).toEqual(spot.faceTrue);
  });

  it('a stored preparation of another version or headshot size, or not one at all, is named stale', () => {
    const form = Buffer.alloc(64);
    form.writeUInt32LE(0x44525052, 0);
    form.writeUInt16LE(PREPARED_VERSION, 4);
    form.writeUInt32LE(1024, 8);
    expect(staleReason(form, 1024)).toBeUndefined();
    expect(staleReason(form, 768)).toBe('made for 1024-px headshots, not 768');
    form.writeUInt16LE(PREPARED_VERSION + 1, 4);
    expect(staleReason(form, 1024)).toBe(`version ${PREPARED_VERSION + 1}, not ${PREPARED_VERSION}`);
    expect(staleReason(Buffer.from('a JPEG, say'), 1024)).toBe('not a prepared form');
  });

  it('two new photos rendered at once go one to each pixel thread, both enlarged by the models thread they share, and stay face-true', async () => {
    const { geometry } = await pool.analyse(stored);
    // A new photo's renders go to the thread with the fewest waiting: the second photo to the other thread.
    const [a, b] = await Promise.all(
      ['pho_a', 'pho_b'].map((k) => pool.render(k, { original: stored }, geometry!, findStyle('studio-grey')!)),
    );
    // The astronaut's face is small for a 1024-px headshot: each render waited for an upscale.
    expect(a.timings.upscale).toBeGreaterThan(0);
    expect(b.timings.upscale).toBeGreaterThan(0);
    expect(a.faceTrue.ok && b.faceTrue.ok).toBe(true);
    // Each thread keeps its own photo: a further style of each is read from neither store nor original.
    const again = await Promise.all(
      ['pho_a', 'pho_b'].map((k) => pool.render(k, { original: stored }, geometry!, findStyle('charcoal')!)),
    );
    expect(again.map((r) => r.preparedFrom)).toEqual(['kept', 'kept']);
  });

  it('an analysis asked while one thread prepares a photo is taken by the other thread when it is free, not queued behind the preparation', async () => {
    const { geometry } = await pool.analyse(stored);
    const done: string[] = [];
    const note = (name: string) => () => done.push(name);
    // The preparation (an ESRGAN x4 upscale, seconds) takes one thread, the first analysis the other;
    // the second analysis waits for whichever thread is free first.
    await Promise.all([
      pool.prepare(stored, geometry!).then(note('preparation')),
      pool.analyse(stored).then(note('first analysis')),
      pool.analyse(stored).then(note('second analysis')),
    ]);
    expect(done.indexOf('second analysis')).toBeLessThan(done.indexOf('preparation'));
  });

  it('a pool configured for cuda,cpu still works on this CPU-only machine (each thread falls back to cpu)', async () => {
    // The pool above was configured ['cuda', 'cpu']: CUDA cannot load here, the work still completes.
    const { verdict } = await pool.analyse(stored);
    expect(verdict.faces).toBe(1);
  });

  it('a thread that ends on its own fails the waiting work at once, with the reason, and the pool says it must be replaced', async () => {
    const own = new PixelPool(
      1,
      {
        providers: ['cpu'],
        presenceMin: config.FACE_PRESENCE_MIN,
        thresholds: thresholdsFrom(config),
        faceTrueTolerance: config.FACE_TRUE_TOLERANCE,
        headshotSize: 1024,
        matting: { model: 'selfie' },
      },
      'silent',
    );
    try {
      const { geometry } = await own.analyse(stored);
      expect(own.broken).toBe(false);
      // The models thread ends (as an out-of-memory end would) while an analysis is in flight: the
      // analysis fails at once instead of its job waiting on a pool that can no longer render.
      // (It is ended while idle: onnxruntime aborts the process if a thread is ended mid-run.)
      // On a busy machine the analysis can still finish before the thread ends; it never hangs, and
      // when it does not finish it fails with the reason.
      const analysing = own.analyse(stored).then(
        () => 'finished before the end',
        (err: Error) => err.message,
      );
      await (own as unknown as { models: Worker }).models.terminate();
      const outcome = await analysing;
      if (outcome !== 'finished before the end')
        expect(outcome).toMatch(/the models thread stopped \(exit code 1\); this pixel pool is replaced/);
      expect(own.broken).toBe(true);
      await expect(own.analyse(stored)).rejects.toThrow(/the models thread stopped/);
      await expect(own.render('pho_gone', { original: stored }, geometry!, findStyle('charcoal')!)).rejects.toThrow(
        /the models thread stopped/,
      );
    } finally {
      await own.close();
    }
  });

  it('close() lets the render in progress finish before ending the threads (ending one mid-run aborts the process) and fails the queued ones', async () => {
    const own = new PixelPool(
      1,
      {
        providers: ['cpu'],
        presenceMin: config.FACE_PRESENCE_MIN,
        thresholds: thresholdsFrom(config),
        faceTrueTolerance: config.FACE_TRUE_TOLERANCE,
        headshotSize: 1024,
        matting: { model: 'selfie' },
      },
      'silent',
    );
    const { geometry } = await own.analyse(stored);
    const running = own.render('pho_closing', { original: stored }, geometry!, findStyle('charcoal')!);
    const queued = own.render('pho_closing', { original: stored }, geometry!, findStyle('sky-blue')!);
    queued.catch(() => {});
    await own.close();
    // This process is still here to check: the render finished, then the threads ended.
    expect((await running).faceTrue.ok).toBe(true);
    await expect(queued).rejects.toThrow(/the pixel pool is closing/);
  });
});

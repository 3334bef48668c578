import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { release } from '../../core/platform/buffers';
import { giveBack, takeFloat32 } from '../../worker/scratch-buffers';

const rss = () => process.memoryUsage.rss();

describe('release', () => {
  // The sink port closes a moment after the module loads.
  beforeAll(() => sleep(50));

  it('frees a whole buffer at once: its memory goes back before any collection', () => {
    const planes = Array.from({ length: 4 }, () => new Float32Array(8 * 2 ** 20).fill(1)); // 4 x 32 MB, touched
    const before = rss();
    for (const p of planes) release(p);
    expect(planes.every((p) => p.length === 0)).toBe(true);
    expect(before - rss()).toBeGreaterThan(96 * 2 ** 20);
  });

  it('leaves a view of part of a buffer alone', () => {
    const whole = new Uint8Array(1024).fill(7);
    release(whole.subarray(0, 512));
    expect(whole.length).toBe(1024);
    expect(whole[1023]).toBe(7);
  });
});

describe('giveBack', () => {
  beforeAll(() => sleep(50));

  it('keeps one buffer of a size for the next run and frees a second one', () => {
    const n = 1000;
    const a = takeFloat32(n);
    const b = takeFloat32(n);
    giveBack(a);
    giveBack(b);
    expect(a.length).toBe(n); // kept (not detached)
    expect(b.length).toBe(0); // freed
    expect(takeFloat32(n).buffer).toBe(a.buffer);
  });
});

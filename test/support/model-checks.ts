/** Helpers shared by the model tests (test/unit/convert-tfjs.test.ts, upscaler.test.ts, pose.test.ts). */
import { createHash } from 'node:crypto';
import * as ort from 'onnxruntime-node';
import { expect, vi } from 'vitest';

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Largest |a[i] - b[i]|; expects equal lengths. A NaN anywhere gives NaN, so a `<=` check fails. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = d; // NaN propagates as a failure
  }
  return m;
}

/** Runs ONNX model bytes on the CPU with float32 feeds; returns every output by name. */
export async function runOnnx(bytes: Uint8Array, feeds: Record<string, { data: Float32Array; shape: number[] }>) {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  const tensors: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) tensors[k] = new ort.Tensor('float32', v.data, v.shape);
  const out = await session.run(tensors);
  const result: Record<string, { data: Float32Array; dims: readonly number[] }> = {};
  for (const k of session.outputNames) result[k] = { data: out[k].data as Float32Array, dims: out[k].dims };
  return result;
}

/** A seeded generator of numbers in [0, 1) (a linear congruential generator), for reproducible test data. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * A model held only while used (models/session.ts `idleSession`), under fake timers: not open before
 * its first use, open after it, a use restarting the idle time, released `idleMs` after the last;
 * then opened again by `use`, whose first and last results are returned to compare.
 */
export async function expectHeldWhileUsed<T>(
  held: { readonly loaded: boolean },
  use: () => Promise<T>,
  idleMs: number,
): Promise<{ first: T; again: T }> {
  expect(held.loaded).toBe(false);
  const first = await use();
  expect(held.loaded).toBe(true);
  vi.advanceTimersByTime(idleMs - 1_000);
  await use(); // a use restarts the idle time
  vi.advanceTimersByTime(idleMs - 1_000);
  expect(held.loaded).toBe(true);
  vi.advanceTimersByTime(1_000);
  expect(held.loaded).toBe(false);
  const again = await use();
  expect(held.loaded).toBe(true);
  return { first, again };
}

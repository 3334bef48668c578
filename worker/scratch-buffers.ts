/**
 * Full-frame scratch buffers kept between the renders of one thread (module state is per thread).
 *
 * With jemalloc (what the images preload), every fresh multi-megabyte ArrayBuffer comes back as new
 * pages, each first touch a page fault: measured on a 2-core machine, a fresh 1024x1280 planar
 * float image and its 8-bit copy cost 70 ms of CPU a render against 13 ms reused. A style run
 * takes its composite, skin and output buffers from here and gives them back when it is done; a
 * thread that renders nothing for IDLE_MS drops them, so an idle worker does not hold them.
 */
import { release } from '../core/platform/buffers';

const IDLE_MS = 15_000;
/**
 * Buffers kept at most, one of each size: a style run's planar composite (the graded output that
 * comes back takes its place), its skin plane, and its packed pixels (a solid backdrop before them).
 * Each kept buffer is memory the worker holds between renders, so no more than these.
 */
const KEEP = 3;

const free: ArrayBuffer[] = [];
let timer: NodeJS.Timeout | undefined;

function touched(): void {
  if (timer) timer.refresh();
  else {
    timer = setTimeout(() => {
      for (const b of free.splice(0)) release(b);
      timer = undefined;
    }, IDLE_MS);
    timer.unref();
  }
}

/** An ArrayBuffer of exactly `bytes` bytes, contents undefined. */
function take(bytes: number): ArrayBuffer {
  touched();
  const i = free.findIndex((b) => b.byteLength === bytes);
  return i >= 0 ? free.splice(i, 1)[0] : new ArrayBuffer(bytes);
}

export const takeFloat32 = (length: number): Float32Array => new Float32Array(take(length * 4));
export const takeBytes = (length: number): Buffer => Buffer.from(take(length));

/**
 * Gives a buffer back once nothing reads it any more: kept for the next run, or freed when one of
 * its size is kept already. A buffer that moved to another thread (detached, length 0) or is a view
 * of a larger one is left alone.
 */
export function giveBack(view: ArrayBufferView): void {
  const b = view.buffer;
  if (!(b instanceof ArrayBuffer) || view.byteLength === 0 || view.byteOffset !== 0 || view.byteLength !== b.byteLength)
    return;
  if (free.some((f) => f.byteLength === b.byteLength)) return release(b);
  free.push(b);
  if (free.length > KEEP) release(free.shift()!);
}

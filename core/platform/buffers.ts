import { MessageChannel } from 'node:worker_threads';

/**
 * A closed port: an ArrayBuffer transferred to it is dropped with its message, so its memory goes
 * back at once. Left to the garbage collector, a dead buffer waits until the thread's external
 * memory has grown by about 64 MB (V8's soft limit): up to four dead full-frame planes a thread.
 * The port closes a moment after it is made; until then buffers are left to the collector.
 */
const sink = new MessageChannel().port1;
let sinkClosed = false;
sink.once('close', () => {
  sinkClosed = true;
});
sink.close();

/**
 * Frees a buffer that nothing reads any more, now. Only a whole ArrayBuffer is freed: a view of part
 * of one, a detached one, or one that cannot move (sharp's and other native outputs are copied
 * instead) is left to the collector.
 */
export function release(view: ArrayBufferView | ArrayBuffer): void {
  const b = view instanceof ArrayBuffer ? view : view.buffer;
  if (!sinkClosed || !(b instanceof ArrayBuffer) || b.byteLength === 0) return;
  if (!(view instanceof ArrayBuffer) && (view.byteOffset !== 0 || view.byteLength !== b.byteLength)) return;
  sink.postMessage(null, [b]);
}

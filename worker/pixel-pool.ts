import { MessageChannel, Worker } from 'node:worker_threads';
import type { Style } from '../core/orders/catalog';
import type { Analysis } from './analysis';
import type { PixelSettings, PixelWork } from './pixel-work';
import type { FaceGeometry, Rendered } from './render';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

interface Lane {
  worker: Worker;
  busy: boolean;
  /** `photo` is one of `message.args`: it is copied and moved to the thread when the task starts. */
  queue: { message: { id: number; kind: string; args: unknown[] }; photo: Buffer; pending: Pending }[];
}

/**
 * The thread's entry: from source, a boot file registers tsx first; in the bundle that `npm run
 * build` makes (dist/main.mjs, what the images run), the thread has its own bundle beside it.
 */
const THREAD_ENTRY = import.meta.url.endsWith('.mjs') ? new URL('./pixel-thread.mjs', import.meta.url) : new URL('./pixel-boot.mjs', import.meta.url);

/**
 * A fixed set of pixel threads. Renders of one photo go to the same thread (by key), where its
 * framing and matte are cached; analyses go to the least busy thread. One more thread holds ESRGAN
 * and the style graph for all of them (worker/shared-models.ts), so their memory is paid once a process.
 */
export class PixelPool implements PixelWork {
  private readonly lanes: Lane[];
  private readonly models: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(threads: number, settings: PixelSettings, logLevel: string) {
    const channels = Array.from({ length: Math.max(1, threads) }, () => new MessageChannel());
    const ports = channels.map((c) => c.port2);
    this.models = new Worker(THREAD_ENTRY, { workerData: { role: 'models', settings, logLevel, ports }, transferList: ports });
    this.lanes = channels.map(({ port1: models }) => {
      const worker = new Worker(THREAD_ENTRY, { workerData: { role: 'pixels', settings, logLevel, models }, transferList: [models] });
      const lane: Lane = { worker, busy: false, queue: [] };
      worker.on('message', (m: { id: number; result?: unknown; error?: string }) => {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.error !== undefined) p?.reject(new Error(m.error));
        else p?.resolve(m.result);
        lane.busy = false;
        this.pump(lane);
      });
      worker.on('error', (err) => {
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
      });
      return lane;
    });
  }

  private pump(lane: Lane): void {
    if (lane.busy) return;
    const next = lane.queue.shift();
    if (!next) return;
    lane.busy = true;
    // The photo is copied only now, as it goes: a queued task holds the caller's buffer, not a copy
    // of its own, so a queue of renders of one photo holds that photo once.
    const bytes = new Uint8Array(next.photo);
    lane.worker.postMessage({ ...next.message, args: next.message.args.map((a) => (a === next.photo ? bytes : a)) }, [bytes.buffer]);
  }

  private submit<T>(lane: Lane, kind: string, args: unknown[], photo: Buffer): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = this.nextId++;
      const pending = { resolve: resolve as (v: unknown) => void, reject };
      this.pending.set(id, pending);
      lane.queue.push({ message: { id, kind, args }, photo, pending });
      this.pump(lane);
    });
  }

  analyse(stored: Buffer): Promise<Analysis> {
    const lane = this.lanes.reduce((a, b) => (b.queue.length + Number(b.busy) < a.queue.length + Number(a.busy) ? b : a));
    return this.submit(lane, 'analyse', [stored], stored);
  }

  async render(key: string, original: Buffer, geometry: FaceGeometry, style: Style): Promise<Rendered> {
    let h = 0;
    for (const ch of key) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    const out = await this.submit<Rendered & { jpeg: Uint8Array }>(this.lanes[h % this.lanes.length], 'render', [key, original, geometry, style], original);
    return { ...out, jpeg: Buffer.from(out.jpeg.buffer, out.jpeg.byteOffset, out.jpeg.byteLength) };
  }

  async close(): Promise<void> {
    await Promise.all([...this.lanes.map((l) => l.worker.terminate()), this.models.terminate()]);
  }
}

import { MessageChannel, Worker } from 'node:worker_threads';
import type { Style } from '../core/orders/catalog';
import type { Analysis } from './analysis';
import type { PixelSettings, PixelWork, PreparedFrom, PreparedPhoto, RenderSource } from './pixel-work';
import type { FaceGeometry } from '../core/photos/verdict';
import type { Rendered } from './render';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

interface Task {
  message: { id: number; kind: string; args: unknown[] };
  /** One of `message.args`: it is copied and moved to the thread when the task starts. */
  photo: Uint8Array;
  pending: Pending;
}

interface Lane {
  worker: Worker;
  busy: boolean;
  /** Called when the task in progress ends (close() waits for it). */
  idle?: () => void;
  /** Renders for this thread (of the photos it keeps). */
  queue: Task[];
  /** The photo of the last render given to this thread: its other styles follow it here. */
  lastKey?: string;
}

/** How long close() waits for the tasks in progress (a render takes seconds; the worker's grace period is 120 s). */
const CLOSE_WAIT_MS = 30_000;

/**
 * The thread's entry: from source, a boot file registers tsx first; in the bundle that `npm run
 * build` makes (dist/main.mjs, what the images run), the thread has its own bundle beside it.
 */
const THREAD_ENTRY = import.meta.url.endsWith('.mjs')
  ? new URL('./pixel-thread.mjs', import.meta.url)
  : new URL('./pixel-boot.mjs', import.meta.url);

/**
 * A fixed set of pixel threads. Renders of one photo go to the same thread (by key), where its
 * framing and matte are cached; a new photo's go to the thread with the fewest renders waiting.
 * Analyses and preparations wait in one queue that every thread takes from when it is free: a
 * preparation can take seconds (an upscale), so a thread picked when the task was asked for could
 * still be busy with one while another thread idles. One more thread holds ESRGAN
 * and the style graph for all of them (worker/shared-models.ts), so their memory is paid once a process.
 */
export class PixelPool implements PixelWork {
  private readonly lanes: Lane[];
  private readonly models: Worker;
  private readonly pending = new Map<number, Pending>();
  /** Analyses and preparations, for whichever thread is free first. */
  private readonly shared: Task[] = [];
  private nextId = 1;
  private closing = false;
  /** Set when a thread ended on its own: the pool fails fast from then on and is to be replaced. */
  private ended: Error | undefined;

  constructor(threads: number, settings: PixelSettings, logLevel: string) {
    const channels = Array.from({ length: Math.max(1, threads) }, () => new MessageChannel());
    const ports = channels.map((c) => c.port2);
    this.models = new Worker(THREAD_ENTRY, {
      workerData: { role: 'models', settings, logLevel, ports },
      transferList: ports,
    });
    this.lanes = channels.map(({ port1: models }) => {
      const worker = new Worker(THREAD_ENTRY, {
        workerData: { role: 'pixels', settings, logLevel, models },
        transferList: [models],
      });
      const lane: Lane = { worker, busy: false, queue: [] };
      worker.on('message', (m: { id: number; result?: unknown; error?: string }) => {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.error !== undefined) p?.reject(new Error(m.error));
        else p?.resolve(m.result);
        PixelPool.finished(lane);
        if (!this.closing) this.pump(lane);
      });
      this.watch(worker, 'a pixel thread', lane);
      return lane;
    });
    this.watch(this.models, 'the models thread');
  }

  /** True once a thread has ended other than by close(): the caller replaces the pool. */
  get broken(): boolean {
    return this.ended !== undefined;
  }

  /**
   * A thread that ends on its own (an uncaught error, out of memory) fails what is waiting and
   * everything asked later, at once and with the reason, instead of leaving tasks hanging on a
   * thread that will never answer.
   */
  private watch(worker: Worker, name: string, lane?: Lane): void {
    let reason = '';
    worker.on('error', (err: unknown) => (reason = `: ${err instanceof Error ? err.message : String(err)}`));
    worker.on('exit', (code) => {
      // A lane whose thread has gone is not running anything: close() need not wait for it.
      if (lane) PixelPool.finished(lane);
      if (this.closing) return;
      this.ended ??= new Error(`${name} stopped (exit code ${code})${reason}; this pixel pool is replaced`);
      for (const p of this.pending.values()) p.reject(this.ended);
      this.pending.clear();
      for (const lane of this.lanes) lane.queue.length = 0;
      this.shared.length = 0;
    });
  }

  /** The lane's task has ended (answered, or its thread gone): close() stops waiting for it. */
  private static finished(lane: Lane): void {
    lane.busy = false;
    lane.idle?.();
  }

  /** Starts the thread's next task, if it is free: the oldest of its renders and the shared queue. */
  private pump(lane: Lane): void {
    if (lane.busy) return;
    const [own, shared] = [lane.queue[0], this.shared[0]];
    const next = own && (!shared || own.message.id < shared.message.id) ? lane.queue.shift() : this.shared.shift();
    if (!next) return;
    lane.busy = true;
    // The photo is copied only now, as it goes: a queued task holds the caller's buffer, not a copy
    // of its own, so a queue of renders of one photo holds that photo once.
    const bytes = new Uint8Array(next.photo);
    lane.worker.postMessage({ ...next.message, args: next.message.args.map((a) => (a === next.photo ? bytes : a)) }, [
      bytes.buffer,
    ]);
  }

  /** Queues a task on `lane`'s own queue, or on the shared one. */
  private submit<T>(lane: Lane | undefined, kind: string, args: unknown[], photo: Uint8Array): Promise<T> {
    if (this.ended) return Promise.reject(this.ended);
    if (this.closing) return Promise.reject(new Error('the pixel pool is closing'));
    return new Promise<T>((resolve, reject) => {
      const id = this.nextId++;
      const pending = { resolve: resolve as (v: unknown) => void, reject };
      this.pending.set(id, pending);
      (lane?.queue ?? this.shared).push({ message: { id, kind, args }, photo, pending });
      for (const l of lane ? [lane] : this.lanes) this.pump(l);
    });
  }

  /** The thread for a render of `key`: the one its photo went to last, or the one with the fewest renders waiting. */
  private laneFor(key: string): Lane {
    const lane =
      this.lanes.find((l) => l.lastKey === key) ??
      this.lanes.reduce((a, b) => (b.queue.length + Number(b.busy) < a.queue.length + Number(a.busy) ? b : a));
    lane.lastKey = key;
    return lane;
  }

  analyse(stored: Buffer): Promise<Analysis> {
    return this.submit(undefined, 'analyse', [stored], stored);
  }

  prepare(original: Buffer, geometry: FaceGeometry): Promise<PreparedPhoto> {
    return this.submit(undefined, 'prepare', [original, geometry], original);
  }

  async render(
    key: string,
    source: RenderSource,
    geometry: FaceGeometry,
    style: Style,
  ): Promise<Rendered & { preparedFrom: PreparedFrom }> {
    const [kind, bytes] =
      'prepared' in source ? (['prepared', source.prepared] as const) : (['original', source.original] as const);
    const out = await this.submit<Rendered & { preparedFrom: PreparedFrom; jpeg: Uint8Array }>(
      this.laneFor(key),
      'render',
      [key, kind, bytes, geometry, style],
      bytes,
    );
    return { ...out, jpeg: Buffer.from(out.jpeg.buffer, out.jpeg.byteOffset, out.jpeg.byteLength) };
  }

  /**
   * Ends the threads once the tasks in progress have ended (at most CLOSE_WAIT_MS): onnxruntime
   * aborts the whole process if a thread is ended in the middle of a run. Queued tasks fail.
   */
  async close(): Promise<void> {
    this.closing = true;
    for (const queue of [this.shared, ...this.lanes.map((l) => l.queue)]) {
      for (const task of queue.splice(0)) {
        this.pending.delete(task.message.id);
        task.pending.reject(new Error('the pixel pool is closing'));
      }
    }
    const running = this.lanes.filter((l) => l.busy).map((l) => new Promise<void>((resolve) => (l.idle = resolve)));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(running), new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
    await Promise.all([...this.lanes.map((l) => l.worker.terminate()), this.models.terminate()]);
    // Whatever was still running when the wait ran out ended with its thread.
    for (const p of this.pending.values()) p.reject(new Error('the pixel pool closed before this task ended'));
    this.pending.clear();
  }
}

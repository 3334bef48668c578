import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../core/platform/logger';
import { createPixelWork, type PixelSettings } from './pixel-work';

/**
 * A pixel thread: decoding, inference and pixel maths run here, off the worker's event loop, so
 * BullMQ keeps renewing job locks while a render runs. One task at a time per thread.
 */
const { settings, logLevel } = workerData as { settings: PixelSettings; logLevel: string };
const work = createPixelWork(settings, createLogger(logLevel, { thread: 'pixels' }));

type Task = { id: number; kind: 'analyse'; args: Parameters<typeof work.analyse> } | { id: number; kind: 'render'; args: Parameters<typeof work.render> };

parentPort!.on('message', async (task: Task) => {
  try {
    if (task.kind === 'analyse') {
      const result = await work.analyse(Buffer.from(task.args[0]));
      parentPort!.postMessage({ id: task.id, result });
    } else {
      const [key, original, geometry, style] = task.args;
      const result = await work.render(key, Buffer.from(original), geometry, style);
      const jpeg = new Uint8Array(result.jpeg);
      parentPort!.postMessage({ id: task.id, result: { ...result, jpeg } }, [jpeg.buffer]);
    }
  } catch (err) {
    parentPort!.postMessage({ id: task.id, error: err instanceof Error ? err.message : String(err) });
  }
});

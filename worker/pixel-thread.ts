import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { createLogger } from '../core/platform/logger';
import { createPixelWork, ownSharedModels, type PixelSettings } from './pixel-work';
import { remoteModels, serveModels } from './shared-models';

/**
 * A pixel thread: decoding, inference and pixel maths run here, off the worker's event loop, so
 * BullMQ keeps renewing job locks while a render runs. One task at a time per thread.
 * The same entry runs the pool's one models thread, which holds ESRGAN and the style graph for
 * every pixel thread (worker/shared-models.ts).
 */
type ThreadData =
  | { role: 'pixels'; settings: PixelSettings; logLevel: string; models: MessagePort }
  | { role: 'models'; settings: PixelSettings; logLevel: string; ports: MessagePort[] };

const data = workerData as ThreadData;
const logger = createLogger(data.logLevel, { thread: data.role });

if (data.role === 'models') serveModels(data.ports, ownSharedModels(data.settings, logger));
else servePixels(data.settings, data.models);

function servePixels(settings: PixelSettings, models: MessagePort): void {
  const work = createPixelWork(settings, logger, remoteModels(models));
  type Render = Parameters<typeof work.render>;
  type Task =
    | { id: number; kind: 'analyse'; args: Parameters<typeof work.analyse> }
    | { id: number; kind: 'prepare'; args: Parameters<typeof work.prepare> }
    | {
        id: number;
        kind: 'render';
        args: [key: Render[0], kind: 'prepared' | 'original', bytes: Uint8Array, Render[2], Render[3]];
      };

  parentPort!.on('message', async (task: Task) => {
    try {
      if (task.kind === 'analyse') {
        const result = await work.analyse(Buffer.from(task.args[0]));
        parentPort!.postMessage({ id: task.id, result });
      } else if (task.kind === 'prepare') {
        const [original, geometry] = task.args;
        const result = await work.prepare(Buffer.from(original), geometry);
        const bytes = new Uint8Array(result.bytes);
        parentPort!.postMessage({ id: task.id, result: { ...result, bytes } }, [bytes.buffer]);
      } else {
        const [key, kind, bytes, geometry, style] = task.args;
        // The stored form is read in place (its planes become views of it); the original is copied as before.
        const source = kind === 'prepared' ? { prepared: bytes } : { original: Buffer.from(bytes) };
        const result = await work.render(key, source, geometry, style);
        const jpeg = new Uint8Array(result.jpeg);
        parentPort!.postMessage({ id: task.id, result: { ...result, jpeg } }, [jpeg.buffer]);
      }
    } catch (err) {
      parentPort!.postMessage({ id: task.id, error: err instanceof Error ? err.message : String(err) });
    }
  });
}

import type { MessagePort } from 'node:worker_threads';
import type { RgbImage } from '../models/face-detector';
import type { Look, StyleRunner } from '../models/style-graph';
import type { Upscaler, UpscaleFactor } from '../models/upscaler';
import type { RenderModels } from './render';
import { release } from '../core/platform/buffers';
import { giveBack } from './scratch-buffers';

/**
 * The two models with big working memory, once per worker process (issue 13). ESRGAN and the
 * style graph keep onnxruntime's arena (without it their runs cost 27-45 % more CPU), and a
 * session cannot cross threads: with sessions in every pixel thread, every thread held both
 * arenas. The pool starts one models thread that owns these sessions; each pixel thread reaches it
 * through a MessagePort, and images cross as transferred buffers, not copies. Runs from different
 * pixel threads take turns between onnxruntime runs (an upscale is one run a tile), each run on all
 * the session's intra-op threads: two pixel threads running at once took the same cores anyway.
 */
export type SharedModels = Pick<RenderModels, 'upscalers' | 'styles'>;

type StyleArgs = Parameters<StyleRunner['run']>;
type Request =
  | { id: number; kind: 'upscale'; scale: UpscaleFactor; width: number; height: number; data: Uint8Array }
  | {
      id: number;
      kind: 'style';
      styleId: string;
      look: Look;
      image: Float32Array;
      skin: Float32Array;
      width: number;
      height: number;
      light: StyleArgs[6];
    };
/** A request as the asker writes it: the port's side numbers it. */
type Unsent<R> = R extends unknown ? Omit<R, 'id'> : never;
type Reply =
  | { id: number; provider: string; width: number; height: number; data: Uint8Array }
  | { id: number; provider: string; pixels: Float32Array; inputs: Float32Array[] }
  | { id: number; error: string };

/** The models thread's side: answers each pixel thread's port. */
export function serveModels(ports: MessagePort[], models: SharedModels): void {
  const answer = async (req: Request): Promise<[Reply, ArrayBuffer[]]> => {
    if (req.kind === 'upscale') {
      const upscaler = models.upscalers[req.scale];
      const out = await upscaler.upscale({ data: req.data, width: req.width, height: req.height });
      release(req.data);
      const data = new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength);
      return [
        { id: req.id, provider: upscaler.provider, width: out.width, height: out.height, data },
        [data.buffer as ArrayBuffer],
      ];
    }
    const pixels = await models.styles.run(
      req.styleId,
      req.look,
      req.image,
      req.skin,
      req.width,
      req.height,
      req.light,
    );
    // The inputs go back too, for the pixel thread's next run (worker/scratch-buffers.ts).
    const inputs = [req.image, req.skin];
    return [
      { id: req.id, provider: models.styles.provider ?? 'cpu', pixels, inputs },
      [pixels.buffer as ArrayBuffer, ...inputs.map((b) => b.buffer as ArrayBuffer)],
    ];
  };
  for (const port of ports) {
    port.on('message', async (req: Request) => {
      try {
        const [reply, transfer] = await answer(req);
        port.postMessage(reply, transfer);
      } catch (err) {
        port.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) } satisfies Reply);
      }
    });
  }
}

/** A pixel thread's side: the shared models, as if they were its own, over the port. */
export function remoteModels(port: MessagePort): SharedModels {
  const pending = new Map<number, { resolve: (reply: Reply) => void; reject: (err: Error) => void }>();
  let nextId = 1;
  const providers = { upscale: 'not loaded yet', style: undefined as string | undefined };
  port.on('message', (reply: Reply) => {
    const p = pending.get(reply.id);
    pending.delete(reply.id);
    if ('error' in reply) p?.reject(new Error(reply.error));
    else p?.resolve(reply);
  });
  // A message posted to a closed port is dropped without a word: once closed, asking fails at once.
  let closed = false;
  const ended = () => new Error('the models thread has ended');
  port.on('close', () => {
    closed = true;
    for (const p of pending.values()) p.reject(ended());
    pending.clear();
  });
  const ask = (req: Unsent<Request>, transfer: ArrayBuffer[]) =>
    new Promise<Reply>((resolve, reject) => {
      if (closed) return reject(ended());
      const id = nextId++;
      pending.set(id, { resolve, reject });
      try {
        port.postMessage({ ...req, id }, transfer);
      } catch (err) {
        pending.delete(id);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });

  const upscaler = (scale: UpscaleFactor): Upscaler => ({
    scale,
    get provider() {
      return providers.upscale;
    },
    async upscale(image: RgbImage) {
      // A copy: the caller's buffer may be a view of a larger pool that must not move threads.
      const data = new Uint8Array(image.data);
      const reply = (await ask({ kind: 'upscale', scale, width: image.width, height: image.height, data }, [
        data.buffer,
      ])) as Extract<Reply, { data: Uint8Array }>;
      providers.upscale = reply.provider;
      return {
        data: Buffer.from(reply.data.buffer, reply.data.byteOffset, reply.data.byteLength),
        width: reply.width,
        height: reply.height,
      };
    },
  });
  return {
    upscalers: { 2: upscaler(2), 4: upscaler(4) },
    styles: {
      get provider() {
        return providers.style;
      },
      async run(styleId, look, image, skin, width, height, light) {
        // The inputs are built for this run alone (worker/render.ts): moved, not copied.
        const reply = (await ask({ kind: 'style', styleId, look, image, skin, width, height, light }, [
          image.buffer as ArrayBuffer,
          skin.buffer as ArrayBuffer,
        ])) as Extract<Reply, { pixels: Float32Array }>;
        providers.style = reply.provider;
        for (const b of reply.inputs) giveBack(b);
        return reply.pixels;
      },
    },
  };
}

import { MessageChannel } from 'node:worker_threads';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { findStyle } from '../../core/orders/catalog';
import { createStyleRunner, lookForStyle } from '../../models/style-graph';
import { createUpscaler, type Upscaler } from '../../models/upscaler';
import { remoteModels, serveModels } from '../../worker/shared-models';
import { fixture } from '../support/stack';

// The two sides of the process's one ESRGAN and style graph (worker/shared-models.ts) over real
// MessagePorts, with the real models; the pixel pool's own test renders through them across threads.
const channels: MessageChannel[] = [];
const channel = () => {
  const c = new MessageChannel();
  channels.push(c);
  return c;
};
afterAll(() => {
  for (const c of channels) {
    c.port1.close();
    c.port2.close();
  }
});

async function crop(size: number) {
  const { data, info } = await sharp(await fixture('astronaut.png'))
    .extract({ left: 180, top: 60, width: size, height: size })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

describe('ESRGAN and the style graph shared by the pixel threads', () => {
  it('upscales and style runs asked for through two ports at once equal the same work done in place', async () => {
    const styles = createStyleRunner({ providers: ['cpu'] });
    const upscalers = {
      2: await createUpscaler({ providers: ['cpu'], scale: 2 }),
      4: await createUpscaler({ providers: ['cpu'], scale: 4 }),
    };
    const [a, b] = [channel(), channel()];
    serveModels([a.port2, b.port2], { styles, upscalers });
    const [fromA, fromB] = [remoteModels(a.port1), remoteModels(b.port1)];

    const [small, smaller] = [await crop(96), await crop(64)];
    const [w, h] = [64, 80];
    const image = () => Float32Array.from({ length: 3 * w * h }, (_, i) => ((i * 37) % 255) / 255);
    const skin = () => Float32Array.from({ length: w * h }, (_, i) => (i % w > 20 && i % w < 44 ? 1 : 0));
    const look = lookForStyle(findStyle('charcoal')!);
    const light = [0.5, 0.4, 0.32, 1.3] as const;
    const [viaA, viaB, styledViaB] = await Promise.all([
      fromA.upscalers[4].upscale(small),
      fromB.upscalers[2].upscale(smaller),
      fromB.styles.run('charcoal', look, image(), skin(), w, h, light),
    ]);

    expect([viaA.width, viaA.height, viaB.width, viaB.height]).toEqual([384, 384, 128, 128]);
    expect(Buffer.compare(Buffer.from(viaA.data), Buffer.from((await upscalers[4].upscale(small)).data))).toBe(0);
    expect(Buffer.compare(Buffer.from(viaB.data), Buffer.from((await upscalers[2].upscale(smaller)).data))).toBe(0);
    expect(styledViaB).toEqual(await styles.run('charcoal', look, image(), skin(), w, h, light));
    expect([fromA.upscalers[4].provider, fromB.styles.provider]).toEqual(['cpu', 'cpu']);
    // The caller's image is copied, not moved: it is still whole on the pixel thread's side.
    expect(small.data.length).toBe(96 * 96 * 3);
  });

  it("a model's error reaches the thread that asked, and a closed port fails what is waiting instead of hanging", async () => {
    const refusing = await createUpscaler({ providers: ['cpu'], scale: 4, maxOutputPixels: 1000 });
    const c = channel();
    serveModels([c.port2], {
      styles: createStyleRunner({ providers: ['cpu'] }),
      upscalers: { 2: refusing as unknown as Upscaler, 4: refusing },
    });
    const remote = remoteModels(c.port1);
    await expect(remote.upscalers[4].upscale(await crop(64))).rejects.toThrow(/over the limit of 1000 output pixels/);
    await expect(
      remote.styles.run(
        'charcoal',
        lookForStyle(findStyle('charcoal')!),
        new Float32Array(3),
        new Float32Array(1),
        1,
        1,
        [0.5, 0.5, 0.3, 1.3],
      ),
    ).rejects.toThrow(/style-graph: invalid image size 1x1/);

    const gone = channel();
    const orphan = remoteModels(gone.port1);
    const waiting = orphan.upscalers[2].upscale(await crop(64));
    gone.port2.close();
    await expect(waiting).rejects.toThrow(/models thread has ended/);
    // Asked after the close (a render's style run after its upscale): fails at once, never hangs.
    await expect(
      orphan.styles.run(
        'charcoal',
        lookForStyle(findStyle('charcoal')!),
        new Float32Array(3 * 64 * 64),
        new Float32Array(64 * 64),
        64,
        64,
        [0.5, 0.5, 0.3, 1.3],
      ),
    ).rejects.toThrow(/models thread has ended/);
  });
});

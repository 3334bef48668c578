/**
 * Order-path figures: uploads per second of a 5 MB photo, milliseconds from upload to the verdict
 * a client sees, and seconds from payment to the delivery email for one astronaut order with one
 * worker (medians of several runs).
 *   npm run bench:order
 */
import { readFile } from 'node:fs/promises';
import { sql } from 'kysely';
import sharp from 'sharp';
import { fiveMegabytePhoto, fmt, median } from './util';
import { benchSignUp, benchStack } from './support';

const RUNS = 5;
const UPLOADS_PER_RUN = 12;

async function main() {
  const stack = await benchStack('all', { RENDER_CONCURRENCY: '1', ANALYSIS_CONCURRENCY: '1' });
  try {
    const token = await benchSignUp(stack);

    const photo = await fiveMegabytePhoto();
    console.log(`upload body: ${(photo.length / 1e6).toFixed(2)} MB JPEG, 3000x3000`);
    const rates: number[] = [];
    const latencies: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const t0 = performance.now();
      for (let i = 0; i < UPLOADS_PER_RUN; i++) {
        const form = new FormData();
        form.append('photo', new Blob([new Uint8Array(photo)]), 'big.jpg');
        const t = performance.now();
        await stack.api('POST', '/v1/photos', { token, body: form });
        latencies.push(performance.now() - t);
      }
      rates.push(UPLOADS_PER_RUN / ((performance.now() - t0) / 1000));
      await stack.ctx.db.deleteFrom('photos').where('detected_type', '=', 'jpeg').execute();
    }
    console.log(
      `uploads of a 5 MB photo, one client: median ${fmt(median(rates), 2)} uploads/s over ${RUNS} runs of ${UPLOADS_PER_RUN} (median latency ${fmt(median(latencies))} ms)`,
    );
    const parallel: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let i = 0; i < UPLOADS_PER_RUN / 4; i++) {
            const form = new FormData();
            form.append('photo', new Blob([new Uint8Array(photo)]), 'big.jpg');
            await stack.api('POST', '/v1/photos', { token, body: form });
          }
        }),
      );
      parallel.push(UPLOADS_PER_RUN / ((performance.now() - t0) / 1000));
      await stack.ctx.db.deleteFrom('photos').where('detected_type', '=', 'jpeg').execute();
    }
    console.log(
      `uploads of a 5 MB photo, 4 concurrent clients: median ${fmt(median(parallel), 2)} uploads/s over ${RUNS} runs`,
    );

    const astronaut = await readFile('test/fixtures/astronaut.png');
    /** Uploads and polls as a client does (every 50 ms) until the verdict shows; milliseconds. */
    const judged = async (data: Buffer, name: string): Promise<{ id: string; ms: number }> => {
      const form = new FormData();
      form.append('photo', new Blob([new Uint8Array(data)]), name);
      const t = performance.now();
      const { id } = await stack.api('POST', '/v1/photos', { token, body: form });
      for (;;) {
        const p = await stack.api('GET', `/v1/photos/${id}`, { token });
        if (p.status !== 'preparing' && p.status !== 'analysing') return { id, ms: performance.now() - t };
        await new Promise((res) => setTimeout(res, 50));
      }
    };
    const twelve = await sharp(astronaut).resize(4000, 3000, { fit: 'fill' }).jpeg({ quality: 92 }).toBuffer();
    await judged(astronaut, 'warm-up.png'); // loads the models in the pixel threads; not counted
    for (const [label, data] of [
      ['512-px astronaut PNG', astronaut],
      [`12-MP JPEG (4000x3000, ${(twelve.length / 1e6).toFixed(1)} MB)`, twelve],
    ] as const) {
      const ms: number[] = [];
      for (let r = 0; r < 2 * RUNS; r++) ms.push((await judged(data, 'photo')).ms);
      ms.sort((x, y) => x - y);
      console.log(
        `upload to verdict visible, ${label}, one worker: median ${fmt(median(ms), 0)} ms, p95 ${fmt(ms[Math.ceil(0.95 * ms.length) - 1], 0)} ms over ${ms.length} uploads`,
      );
    }
    const seconds: number[] = [];
    // A warm-up order loads the models in the worker's pixel threads; it is not counted.
    for (let r = -1; r < RUNS; r++) {
      // A new upload each run, so nothing is reused from the previous order's analysis or matte.
      const { id: photoId } = await judged(astronaut, 'astronaut.png');
      const { order } = await stack.api('POST', '/v1/orders', {
        token,
        json: { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [photoId] },
      });
      let row;
      for (;;) {
        row = await stack.ctx.db
          .selectFrom('notifications')
          .innerJoin('orders', (j) => j.on(sql<boolean>`notifications.dedupe_key = 'order-ready-' || orders.id`))
          .select(['orders.paid_at', 'notifications.sent_at'])
          .where('orders.id', '=', order.id)
          .where('notifications.status', '=', 'sent')
          .executeTakeFirst();
        if (row) break;
        await new Promise((res) => setTimeout(res, 20));
      }
      if (r >= 0) seconds.push((new Date(row.sent_at!).getTime() - new Date(row.paid_at!).getTime()) / 1000);
    }
    console.log(
      `payment to delivery email, one astronaut order (1 style), one worker: median ${fmt(median(seconds), 3)} s over ${RUNS} runs [${seconds.map((s) => fmt(s, 3)).join(', ')}]`,
    );
  } finally {
    await stack.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

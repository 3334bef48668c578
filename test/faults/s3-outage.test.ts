import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/platform/config';
import { startLocalS3 } from '../../core/platform/local-s3';
import { fixture, multipart, signUp, startStack, until, type Stack } from '../support/stack';
import { freePort, orderStatus, orphans, placeOrder, waitForOrder } from './support';

let stack: Stack;
let s3: Awaited<ReturnType<typeof startLocalS3>> | undefined;
let dir: string;
let port: number;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'rasmi-fault-s3-'));
  port = await freePort();
  s3 = await startLocalS3(dir, port);
  // The shipped number of attempts (tests elsewhere run with 2): its backoff must outlast the outage.
  stack = await startStack({
    role: 'all',
    env: { S3_ENDPOINT: s3.endpoint, JOB_ATTEMPTS: String(loadConfig({}).JOB_ATTEMPTS) },
  });
});
afterAll(async () => {
  await stack?.stop();
  await s3?.close();
  await rm(dir, { recursive: true, force: true });
});

const OUTAGE_MS = 30_000;

describe('the S3 server stopped for 30 seconds', () => {
  it('uploads answer 503 storage_unavailable and keep nothing; jobs back off and complete once S3 is back', async () => {
    const me = await signUp(stack);
    const orderId = await placeOrder(stack, me.token, ['studio-grey']);
    // Stop S3 right after the order is placed, so its analysis or render meets the outage.
    const db = stack.ctx.db;
    const count = async (t: 'photos' | 'blobs') =>
      Number(
        (
          await db
            .selectFrom(t)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .$if(t === 'blobs', (q) => q.where('bucket', '=', stack.config.S3_BUCKET_ORIGINALS))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = { photos: await count('photos'), blobs: await count('blobs') };
    await s3!.close();
    const stoppedAt = Date.now();
    s3 = undefined;

    const refused = await stack.api('POST', '/v1/photos', {
      token: me.token,
      body: multipart('photo', await fixture('astronaut.png'), 'astronaut.png', 'image/png'),
    });
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe('storage_unavailable');
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(await count('photos')).toBe(before.photos);
    expect(await count('blobs')).toBe(before.blobs);

    // The job that met the outage failed and waits out its backoff; the order is not failed meanwhile.
    const { preparation, analysis, rendering } = stack.ctx.queues.byName;
    const backingOff = await until(
      async () =>
        [...(await analysis.getJobs(['delayed'])), ...(await rendering.getJobs(['delayed']))].find(
          (j) => j.attemptsMade >= 1,
        ),
      30_000,
      'a job to back off',
    );
    expect(backingOff.failedReason).toMatch(/ECONNREFUSED|ECONNRESET|connect|aborted|socket hang up/i);
    // (The upload's preparation may be the job that met it, before the payment webhook landed.)
    const paid = await until(
      async () => {
        const s = await orderStatus(stack, orderId);
        return s !== 'awaiting_payment' && s;
      },
      10_000,
      'the payment to land',
    );
    expect(paid).toMatch(/^(received|processing)$/);

    // Down for the whole 30 s, and the job that met it still has attempts left at the end.
    await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt))));
    const failedForGood = [
      ...(await preparation.getJobs(['failed'])),
      ...(await analysis.getJobs(['failed'])),
      ...(await rendering.getJobs(['failed'])),
    ];
    expect(failedForGood.map((j) => `${j.name} ${j.failedReason}`)).toEqual([]);
    s3 = await startLocalS3(dir, port);
    expect(await waitForOrder(stack, orderId)).toBe('ready');
    const hs = await db.selectFrom('headshots').select(['status']).where('order_id', '=', orderId).execute();
    expect(hs.map((h) => h.status)).toEqual(['rendered']);
    expect(await orphans(stack)).toEqual({ objectsWithoutRow: [], rowsWithoutObject: [] });
  }, 180_000);
});

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalS3 } from '../../core/local-s3';
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
  // Enough attempts that exponential backoff (2 s, 4 s, 8 s ...) outlasts the outage.
  stack = await startStack({ role: 'all', env: { S3_ENDPOINT: s3.endpoint, JOB_ATTEMPTS: '6' } });
});
afterAll(async () => {
  await stack?.stop();
  await s3?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the S3 server stopped', () => {
  it('uploads answer 503 storage_unavailable and keep nothing; jobs back off and complete once S3 is back', async () => {
    const me = await signUp(stack);
    const orderId = await placeOrder(stack, me.token, ['studio-grey']);
    // Stop S3 right after the order is placed, so its analysis or render meets the outage.
    const db = stack.ctx.db;
    const count = async (t: 'photos' | 'blobs') => Number((await db.selectFrom(t).select((eb) => eb.fn.countAll<number>().as('n')).$if(t === 'blobs', (q) => q.where('bucket', '=', stack.config.S3_BUCKET_ORIGINALS)).executeTakeFirstOrThrow()).n);
    const before = { photos: await count('photos'), blobs: await count('blobs') };
    await s3!.close();
    s3 = undefined;

    const refused = await stack.api('POST', '/v1/photos', { token: me.token, body: multipart('photo', await fixture('astronaut.png'), 'astronaut.png', 'image/png') });
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe('storage_unavailable');
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(await count('photos')).toBe(before.photos);
    expect(await count('blobs')).toBe(before.blobs);

    // The job that met the outage failed and waits out its backoff; the order is not failed meanwhile.
    const { analysis, rendering } = stack.ctx.queues.byName;
    const backingOff = await until(async () => [...(await analysis.getJobs(['delayed'])), ...(await rendering.getJobs(['delayed']))].find((j) => j.attemptsMade >= 1), 30_000, 'a job to back off');
    expect(backingOff.failedReason).toMatch(/ECONNREFUSED|ECONNRESET|connect|aborted|socket hang up/i);
    // (The upload's preparation may be the job that met it, before the payment webhook landed.)
    const paid = await until(async () => {
      const s = await orderStatus(stack, orderId);
      return s !== 'awaiting_payment' && s;
    }, 10_000, 'the payment to land');
    expect(paid).toMatch(/^(received|processing)$/);

    s3 = await startLocalS3(dir, port);
    expect(await waitForOrder(stack, orderId)).toBe('ready');
    const hs = await db.selectFrom('headshots').select(['status']).where('order_id', '=', orderId).execute();
    expect(hs.map((h) => h.status)).toEqual(['rendered']);
    expect(await orphans(stack)).toEqual({ objectsWithoutRow: [], rowsWithoutObject: [] });
  });
});

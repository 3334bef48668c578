/**
 * Privacy figures: retention sweep throughput (objects and rows deleted per second against the
 * in-process S3 server, @20minutes/s3rver on the local disk) and the time to build a data export
 * for a user with 20 photos and 80 headshots (medians of several runs).
 *   npm run bench:privacy
 *
 * Runs on its own database (rasmi_bench_privacy, recreated each run): a scheduler of another bench
 * on rasmi_bench would otherwise sweep these seeded rows into its own queue.
 */
import { randomBytes } from 'node:crypto';
import type { Job } from 'bullmq';
import pg from 'pg';
import sharp from 'sharp';
import { DAY_MS } from '../core/platform/config';
import type { AppContext } from '../core/platform/context';
import type { Blob } from '../core/platform/db';
import { newId } from '../core/platform/crypto';
import { deleteExports, deleteUser } from '../core/privacy/deletion';
import { collectPersonalData, exportZip } from '../core/privacy/export';
import { createRightsRequest } from '../core/privacy/rights';
import { sweepRetention } from '../core/privacy/retention';
import { seedHeadshots, seedPhotos, seedUser } from '../test/support/seed';
import { rightsHandlers } from '../worker/rights';
import { benchStack } from './support';
import { fmt, median } from './util';

const DATABASE = 'rasmi_bench_privacy';
const RUNS = 3;
const PHOTOS = 10_000;
const HEADSHOTS = 2_000;
const EXPORT_PHOTOS = 20;
const EXPORT_STYLES = ['studio-grey', 'studio-white', 'navy-gradient', 'charcoal'];
const fakeJob = {} as Job;
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/** Wraps one method of an instance so the time spent inside it (summed over concurrent calls) is counted. */
function timeMethod<T extends object, K extends keyof T>(obj: T, name: K): { ms: number; calls: number } {
  const original = obj[name] as unknown as (...args: unknown[]) => Promise<unknown>;
  const stats = { ms: 0, calls: 0 };
  obj[name] = (async (...args: unknown[]) => {
    const t = performance.now();
    try {
      return await original.apply(obj, args);
    } finally {
      stats.ms += performance.now() - t;
      stats.calls++;
    }
  }) as T[K];
  return stats;
}

/**
 * Objects in a bucket, by S3 ListObjects (v1). Storage.listKeys uses ListObjectsV2, whose paging
 * past 1,000 keys fails on s3rver under OpenSSL 3 (its continuation token is DES-encrypted).
 */
async function countObjects(ctx: AppContext, role: 'originals' | 'headshots'): Promise<number> {
  let n = 0;
  for await (const item of ctx.storage.client.listObjects(ctx.storage.buckets[role], '', true))
    if ('name' in item && item.name) n++;
  return n;
}

const countOf = async (q: { executeTakeFirstOrThrow(): Promise<{ n: string | number | bigint }> }) =>
  Number((await q.executeTakeFirstOrThrow()).n);

interface SweepRun {
  seconds: number;
  fanOutMs: number;
  objects: number;
  rows: number;
  jobs: number;
  jobBusyMs: number;
  s3Ms: number;
  s3Calls: number;
}

/** Seeds `n` items past retention, sweeps, and waits until the privacy queue is drained and no row or object is left. */
async function sweepOnce(
  ctx: AppContext,
  kind: 'photos' | 'headshots',
  n: number,
  s3: { ms: number; calls: number },
): Promise<SweepRun> {
  const owner = await seedUser(ctx, new Date());
  const table = kind;
  const bucketRole = kind === 'photos' ? 'originals' : 'headshots';
  if (kind === 'photos') await seedPhotos(ctx, owner.id, n, new Date(Date.now() - 31 * DAY_MS));
  else await seedHeadshots(ctx, owner.id, n, new Date(Date.now() - 91 * DAY_MS));
  if ((await countObjects(ctx, bucketRole)) !== n)
    throw new Error(`expected ${n} objects in ${bucketRole} before the sweep`);
  const recordsBefore = await countOf(
    ctx.db.selectFrom('deletion_records').select((eb) => eb.fn.countAll<number>().as('n')),
  );
  const s3Before = { ...s3 };
  const queue = ctx.queues.byName.privacy;
  const since = Date.now();

  const t0 = performance.now();
  const found = await sweepRetention(ctx);
  const fanOutMs = performance.now() - t0;
  if (found[kind] !== n) throw new Error(`sweep found ${found[kind]} ${kind}, expected ${n}`);
  for (;;) {
    const c = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed');
    if (c.failed) throw new Error(`${c.failed} privacy job(s) failed`);
    if (c.wait + c.active + c.delayed + c.prioritized + c['waiting-children'] === 0) {
      const left =
        (await countOf(
          ctx.db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('user_id', '=', owner.id),
        )) +
        (await countOf(
          ctx.db
            .selectFrom('blobs')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('user_id', '=', owner.id),
        ));
      if (left === 0) break;
    }
    await sleep(20);
  }
  const seconds = (performance.now() - t0) / 1000;

  const objectsLeft = await countObjects(ctx, bucketRole);
  if (objectsLeft) throw new Error(`${objectsLeft} object(s) survived the sweep`);
  const records =
    (await countOf(ctx.db.selectFrom('deletion_records').select((eb) => eb.fn.countAll<number>().as('n')))) -
    recordsBefore;
  if (records !== n) throw new Error(`expected ${n} deletion records, found ${records}`);
  const done = (await queue.getJobs(['completed'], 0, -1)).filter(
    (j) => j.timestamp >= since && j.name.startsWith('retention.'),
  );
  const jobBusyMs = done.reduce((a, j) => a + ((j.finishedOn ?? 0) - (j.processedOn ?? 0)), 0);
  // The owner goes too (cascades take the order of seeded headshots); not part of the figure.
  await ctx.db.deleteFrom('users').where('id', '=', owner.id).execute();
  return {
    seconds,
    fanOutMs,
    objects: n,
    rows: 2 * n + records,
    jobs: done.length,
    jobBusyMs,
    s3Ms: s3.ms - s3Before.ms,
    s3Calls: s3.calls - s3Before.calls,
  };
}

function reportSweep(label: string, runs: SweepRun[]) {
  const r0 = runs[0];
  const objectsPerS = runs.map((r) => r.objects / r.seconds);
  const rowsPerS = runs.map((r) => r.rows / r.seconds);
  console.log(
    `retention sweep, ${label}: median ${fmt(median(objectsPerS), 0)} objects/s and ${fmt(median(rowsPerS), 0)} rows/s over ${runs.length} runs ` +
      `(${r0.objects} objects, ${r0.rows} rows = ${r0.objects} ${label.split(' ')[1]} + ${r0.objects} blobs + ${r0.objects} deletion records; ` +
      `seconds [${runs.map((r) => fmt(r.seconds, 2)).join(', ')}])`,
  );
  console.log(
    `  where the time goes (median): fan-out ${fmt(median(runs.map((r) => r.fanOutMs)), 0)} ms for ${r0.jobs} batch jobs; ` +
      `job busy time ${fmt(median(runs.map((r) => r.jobBusyMs)) / 1000, 2)} s summed over 4 workers, of which S3 DeleteObjects ${fmt(median(runs.map((r) => r.s3Ms)) / 1000, 2)} s ` +
      `(${r0.s3Calls} calls, ${fmt(median(runs.map((r) => r.s3Ms / r.s3Calls)), 0)} ms each)`,
  );
}

/** A 1024x1280 JPEG of about 150 KB made from the astronaut: the quality closest to that size. */
async function smallJpeg(): Promise<Buffer> {
  let best: Buffer | undefined;
  for (let q = 70; q <= 92; q += 2) {
    const b = await sharp('test/fixtures/astronaut.png')
      .resize(1024, 1280, { fit: 'cover' })
      .jpeg({ quality: q })
      .toBuffer();
    if (!best || Math.abs(b.length - 150_000) < Math.abs(best.length - 150_000)) best = b;
  }
  return best!;
}

/** A person with one order of 20 photos in 4 styles: 20 originals and 80 delivered headshots, stored encrypted like real ones. */
async function seedExportUser(ctx: AppContext, jpeg: Buffer): Promise<string> {
  const at = new Date();
  const { id: userId } = await seedUser(ctx, at);
  const orderId = newId('ord');
  await ctx.db
    .insertInto('orders')
    .values({
      id: orderId,
      user_id: userId,
      package_id: 'professional',
      styles: JSON.stringify(EXPORT_STYLES),
      status: 'ready',
      amount_cents: 3900,
      currency: 'EUR',
      failure_code: null,
      failure_detail: null,
      created_at: at,
      paid_at: at,
      delivered_at: at,
    })
    .execute();
  for (let i = 0; i < EXPORT_PHOTOS; i++) {
    const photoBlob = await ctx.storage.put(ctx.db, {
      userId,
      role: 'originals',
      contentType: 'image/jpeg',
      data: jpeg,
      at,
    });
    const photoId = newId('pho');
    await ctx.db
      .insertInto('photos')
      .values({
        id: photoId,
        user_id: userId,
        blob_id: photoBlob.id,
        detected_type: 'jpeg',
        size_bytes: jpeg.length,
        width: 1024,
        height: 1280,
        uploaded_at: at,
        verdict: null,
        processed_at: at,
        status: 'usable',
      })
      .execute();
    await ctx.db.insertInto('order_photos').values({ order_id: orderId, photo_id: photoId }).execute();
    for (const style of EXPORT_STYLES) {
      const blob = await ctx.storage.put(ctx.db, {
        userId,
        role: 'headshots',
        contentType: 'image/jpeg',
        data: jpeg,
        at,
      });
      await ctx.db
        .insertInto('headshots')
        .values({
          id: newId('hs'),
          order_id: orderId,
          user_id: userId,
          photo_id: photoId,
          style_id: style,
          status: 'rendered',
          blob_id: blob.id,
          width: 1024,
          height: 1280,
          failure_code: null,
          created_at: at,
          rendered_at: at,
          delivered_at: at,
        })
        .execute();
    }
  }
  return userId;
}

const BIG_PHOTOS = 40;
const BIG_PHOTO_BYTES = 5_000_000;

/** An account with BIG_PHOTOS prepared originals of BIG_PHOTO_BYTES (random bytes: the export copies files, it does not decode them). */
async function seedBigAccount(ctx: AppContext): Promise<string> {
  const at = new Date();
  const userId = (await seedUser(ctx, at)).id;
  for (let i = 0; i < BIG_PHOTOS; i++) {
    const data = randomBytes(BIG_PHOTO_BYTES);
    const blob = await ctx.storage.put(ctx.db, { userId, role: 'originals', contentType: 'image/jpeg', data, at });
    await ctx.db
      .insertInto('photos')
      .values({
        id: newId('pho'),
        user_id: userId,
        blob_id: blob.id,
        detected_type: 'jpeg',
        size_bytes: data.length,
        width: 3000,
        height: 3000,
        uploaded_at: at,
        verdict: null,
        processed_at: at,
        status: 'usable',
      })
      .execute();
  }
  return userId;
}

/** What the rights.export job does. */
async function streamedExport(ctx: AppContext, userId: string): Promise<Blob> {
  const { zip, files } = exportZip(ctx, userId);
  const [blob] = await Promise.all([
    ctx.storage.putStream(ctx.db, {
      userId,
      role: 'headshots',
      contentType: 'application/zip',
      source: zip,
      at: new Date(),
    }),
    files,
  ]);
  return blob;
}

/** The earlier way: the whole ZIP collected in memory, then encrypted and uploaded in one put(). */
async function inMemoryExport(ctx: AppContext, userId: string): Promise<Blob> {
  const { zip, files } = exportZip(ctx, userId);
  const chunks: Buffer[] = [];
  for await (const c of zip) chunks.push(c as Buffer);
  await files;
  return ctx.storage.put(ctx.db, {
    userId,
    role: 'headshots',
    contentType: 'application/zip',
    data: Buffer.concat(chunks),
    at: new Date(),
  });
}

/**
 * Runs fn, sampling Buffer memory (arrayBuffers) every 5 ms, as MB above `base` (taken once before
 * all runs: Buffers of an in-memory run outlive a garbage collection for a while).
 */
async function withPeakBuffers<T>(base: number, fn: () => Promise<T>): Promise<{ out: T; ms: number; peakMb: number }> {
  (globalThis as { gc?: () => void }).gc?.();
  let peak = process.memoryUsage().arrayBuffers;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 5);
  const t = performance.now();
  try {
    const out = await fn();
    return {
      out,
      ms: performance.now() - t,
      peakMb: (Math.max(peak, process.memoryUsage().arrayBuffers) - base) / 1e6,
    };
  } finally {
    clearInterval(sampler);
  }
}

async function main() {
  // A fresh database each time: rows left by an interrupted run (their objects were in a temp folder) would be swept too.
  const admin = new pg.Client({ connectionString: 'postgres://root@127.0.0.1:5432/postgres' });
  await admin.connect();
  await admin.query(`drop database if exists "${DATABASE}" with (force)`);
  await admin.end();
  const stack = await benchStack('worker', {
    DATABASE_URL: `postgres://root@127.0.0.1:5432/${DATABASE}`,
    PRIVACY_CONCURRENCY: '4',
  });
  const ctx = stack.ctx;
  try {
    console.log(
      `S3: in-process @20minutes/s3rver on the local disk; privacy workers in-process, PRIVACY_CONCURRENCY ${ctx.config.PRIVACY_CONCURRENCY}, RETENTION_BATCH ${ctx.config.RETENTION_BATCH}`,
    );
    const s3 = timeMethod(ctx.storage.client, 'removeObjects');
    const photoRuns: SweepRun[] = [];
    for (let r = 0; r < RUNS; r++) photoRuns.push(await sweepOnce(ctx, 'photos', PHOTOS, s3));
    reportSweep(`${PHOTOS} photos`, photoRuns);
    const headshotRuns: SweepRun[] = [];
    for (let r = 0; r < RUNS; r++) headshotRuns.push(await sweepOnce(ctx, 'headshots', HEADSHOTS, s3));
    reportSweep(`${HEADSHOTS} headshots`, headshotRuns);

    const jpeg = await smallJpeg();
    const userId = await seedExportUser(ctx, jpeg);
    const puts = timeMethod(ctx.storage, 'putStream');
    const mails = timeMethod(ctx.mailer, 'send');
    const jobMs: number[] = [];
    const inJob = { put: [] as number[], mail: [] as number[] };
    let result: { files: number; size_bytes: number } | undefined;
    for (let r = 0; r < RUNS; r++) {
      const req = await createRightsRequest(ctx, { userId, kind: 'access', status: 'open' });
      const before = { put: puts.ms, mail: mails.ms };
      const t = performance.now();
      await rightsHandlers['rights.export'](ctx, { requestId: req.id }, fakeJob);
      jobMs.push(performance.now() - t);
      inJob.put.push(puts.ms - before.put);
      inJob.mail.push(mails.ms - before.mail);
      const done = await ctx.db
        .selectFrom('rights_requests')
        .select(['status', 'result'])
        .where('id', '=', req.id)
        .executeTakeFirstOrThrow();
      if (done.status !== 'completed') throw new Error(`export request ended ${done.status}`);
      result = done.result as { files: number; size_bytes: number };
      await deleteExports(ctx, [req.id], 'bench');
    }
    console.log(
      `export (rights.export job) for ${EXPORT_PHOTOS} photos + ${EXPORT_PHOTOS * EXPORT_STYLES.length} headshots of ${fmt(jpeg.length / 1000, 0)} KB (1024x1280 JPEG): ` +
        `median ${fmt(median(jobMs), 0)} ms over ${RUNS} runs [${jobMs.map((m) => fmt(m, 0)).join(', ')}]; ZIP ${fmt(result!.size_bytes / 1e6, 2)} MB, ${result!.files} entries`,
    );
    console.log(
      `  inside the job (median): storage.putStream of the ZIP (reading the 100 objects, zip, encrypt, spool and upload) ${fmt(median(inJob.put), 0)} ms; ` +
        `email ${fmt(median(inJob.mail), 0)} ms`,
    );

    // Where the export's time goes: the same steps, timed one by one.
    const collect: number[] = [];
    const readAll: number[] = [];
    const whole: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      let t = performance.now();
      const { files } = await collectPersonalData(ctx, userId);
      collect.push(performance.now() - t);
      t = performance.now();
      for (const f of files)
        await ctx.storage.read(
          await ctx.db.selectFrom('blobs').selectAll().where('id', '=', f.blobId).executeTakeFirstOrThrow(),
        );
      readAll.push(performance.now() - t);
      t = performance.now();
      const blob = await streamedExport(ctx, userId);
      whole.push(performance.now() - t);
      await ctx.storage.remove(ctx.db, blob);
    }
    console.log(
      `  where the time goes (median): collect rows ${fmt(median(collect), 0)} ms; read+decrypt 100 objects one by one ${fmt(median(readAll), 0)} ms; ` +
        `the whole streamed export (collect, read, zip, encrypt, spool, upload) ${fmt(median(whole), 0)} ms`,
    );
    await deleteUser(ctx, userId, 'bench');

    // A large account: the streamed export against the earlier way, the whole ZIP in memory, then put().
    const big = await seedBigAccount(ctx);
    const ways = { streamed: streamedExport, 'in memory first': inMemoryExport };
    const peaks: Record<string, number[]> = { streamed: [], 'in memory first': [] };
    const times: Record<string, number[]> = { streamed: [], 'in memory first': [] };
    let size = 0;
    (globalThis as { gc?: () => void }).gc?.();
    const base = process.memoryUsage().arrayBuffers;
    for (const [name, run] of Object.entries(ways)) {
      for (let r = 0; r < RUNS; r++) {
        const { ms, peakMb, out: blob } = await withPeakBuffers(base, () => run(ctx, big));
        size = Number(blob.size_bytes);
        peaks[name].push(peakMb);
        times[name].push(ms);
        await ctx.storage.remove(ctx.db, blob);
      }
    }
    console.log(
      `export of a large account (${BIG_PHOTOS} originals of ${fmt(BIG_PHOTO_BYTES / 1e6, 1)} MB; ZIP ${fmt(size / 1e6, 0)} MB), median of ${RUNS} runs, peak Buffer memory above the start (process.memoryUsage().arrayBuffers, sampled every 5 ms; node --expose-gc):`,
    );
    for (const name of Object.keys(ways))
      console.log(
        `  ${name.padEnd(16)} ${fmt(median(times[name]), 0)} ms, peak +${fmt(median(peaks[name]), 0)} MB [${peaks[name].map((m) => fmt(m, 0)).join(', ')}]`,
      );
    await deleteUser(ctx, userId, 'bench');
  } finally {
    await stack.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

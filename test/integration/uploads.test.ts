import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { jobId } from '../../core/platform/jobs';
import { sweepHandlers } from '../../scheduler/sweeps';
import { preparePhoto } from '../../core/photos/preparation';
import { sql } from 'kysely';
import { fixture, footprint, multipart, signUp, startStack, until, type Stack } from '../support/stack';

let stack: Stack;
let token: string;
beforeAll(async () => {
  // API only: no worker consumes jobs, so any job a refused upload left behind would show.
  stack = await startStack({ role: 'api' });
  ({ token } = await signUp(stack));
});
afterAll(async () => {
  await stack?.stop();
});

const post = (data: Buffer, name = 'selfie.jpg', type = 'image/jpeg') =>
  stack.api('POST', '/v1/photos', { token, body: multipart('photo', data, name, type) });

describe('uploads', () => {
  it('PH1 records the type told from the bytes, the size and the upload time', async () => {
    const png = await fixture('astronaut.png');
    // Named and labelled as a JPEG: the bytes say PNG, and PNG is what is recorded.
    const res = await post(png, 'holiday.jpg', 'image/jpeg');
    expect(res.status).toBe(201);
    expect(res.body.detected_type).toBe('png');
    expect(res.body.size_bytes).toBe(png.length);
    expect(Math.abs(Date.parse(res.body.uploaded_at) - stack.clock.now().getTime())).toBeLessThan(1000);
    const row = await stack.ctx.db
      .selectFrom('photos')
      .selectAll()
      .where('id', '=', res.body.id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ detected_type: 'png', size_bytes: png.length, width: 512, height: 512 });
  });

  it('PH3 applies EXIF orientation, then strips EXIF, GPS and XMP from what it stores, before anything reads it', async () => {
    // 512x256 pixels tagged "rotate 90° clockwise" (orientation 6) with a GPS position.
    const tagged = await sharp(await fixture('astronaut.png'))
      .resize(512, 256, { fit: 'fill' })
      .withExif({ IFD0: { Make: 'TestCam' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '46/1 57/1 0/1' } })
      .withMetadata({ orientation: 6 })
      .jpeg()
      .toBuffer();
    expect((await sharp(tagged).metadata()).orientation).toBe(6);
    expect(tagged.includes(Buffer.from('TestCam'))).toBe(true);
    const res = await post(tagged);
    expect(res.status).toBe(201);
    // Dimensions as shown (orientation applied) from the start; the pixels follow in the worker.
    expect(res.body).toMatchObject({ status: 'preparing', width: 256, height: 512 });
    const early = await stack.api('GET', `/v1/photos/${res.body.id}/content`, { token });
    expect(early.status).toBe(409);
    expect(early.body.code).toBe('photo_not_ready');
    expect(early.headers.get('retry-after')).toBe('2');
    // Its job is queued under a fixed id; run what the worker runs for it.
    expect((await stack.ctx.queues.byName.preparation.getJob(jobId('prepare', res.body.id)))?.name).toBe(
      'photo.prepare',
    );
    await preparePhoto(stack.ctx, res.body.id);

    expect((await stack.api('GET', `/v1/photos/${res.body.id}`, { token })).body).toMatchObject({
      status: 'analysing',
      width: 256,
      height: 512,
    });
    const stored = await stack.api('GET', `/v1/photos/${res.body.id}/content`, { token });
    expect(stored.status).toBe(200);
    const meta = await sharp(stored.body).metadata();
    expect([meta.width, meta.height]).toEqual([256, 512]);
    expect(meta.exif).toBeUndefined();
    expect(meta.xmp).toBeUndefined();
    expect(meta.orientation).toBeUndefined();
    expect(stored.body.includes(Buffer.from('TestCam'))).toBe(false);
    // Written over the upload's own object: one object for the photo, the raw upload is gone.
    const row = await stack.ctx.db
      .selectFrom('photos')
      .innerJoin('blobs', 'blobs.id', 'photos.blob_id')
      .select(['blobs.object_key', 'blobs.size_bytes', 'blobs.content_type'])
      .where('photos.id', '=', res.body.id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ size_bytes: stored.body.length, content_type: 'image/jpeg' });
    expect((await stack.ctx.storage.listKeys('originals')).filter((k) => k === row.object_key)).toHaveLength(1);
    // A second run (a retried job) changes nothing.
    await preparePhoto(stack.ctx, res.body.id);
    expect((await stack.api('GET', `/v1/photos/${res.body.id}/content`, { token })).body.equals(stored.body)).toBe(
      true,
    );
  });

  it('PH3 an iPhone HEIC (HEVC-coded, stored on its side with irot and Exif orientation 6, GPS) is decoded, turned upright once, and stored stripped', async () => {
    // test/fixtures/heic/iphone-sideways.heic: the astronaut as test/support/make-heic-fixtures.ts made it.
    const heic = await fixture('heic/iphone-sideways.heic');
    expect(heic.toString('latin1', 4, 12)).toBe('ftypheic');
    expect(heic.includes(Buffer.from('Apple'))).toBe(true);
    const res = await post(heic, 'IMG_0001.HEIC', 'image/heic');
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ detected_type: 'heic', status: 'preparing', width: 512, height: 512 });
    await preparePhoto(stack.ctx, res.body.id);
    expect((await stack.api('GET', `/v1/photos/${res.body.id}`, { token })).body).toMatchObject({
      status: 'analysing',
    });
    const stored = await stack.api('GET', `/v1/photos/${res.body.id}/content`, { token });
    const meta = await sharp(stored.body).metadata();
    expect(meta).toMatchObject({ format: 'jpeg', width: 512, height: 512 });
    expect(meta.exif).toBeUndefined();
    expect(meta.orientation).toBeUndefined();
    expect(stored.body.includes(Buffer.from('Apple'))).toBe(false);
    // Upright, turned once: the same pixels as the astronaut itself (HEVC at quality 60 and the JPEG differ a little).
    const [ours, original] = await Promise.all(
      [stored.body, await fixture('astronaut.png')].map((b) =>
        sharp(b).removeAlpha().resize(32, 32, { fit: 'fill' }).greyscale().raw().toBuffer(),
      ),
    );
    const diff = ours.reduce((sum, v, i) => sum + Math.abs(v - original[i]), 0) / ours.length;
    expect(diff).toBeLessThan(8);
  });

  it('PH2 an upload that passes the door check but cannot be decoded at full size is rejected with corrupt_image, never served and not kept', async () => {
    const res = await post(await fixture('astronaut.png'));
    expect(res.status).toBe(201);
    // Stand-in for a file only the full decode finds wrong: a pixel cap the full decode cannot meet.
    await preparePhoto({ ...stack.ctx, config: { ...stack.ctx.config, UPLOAD_MAX_PIXELS: 1000 } }, res.body.id);
    const photo = await stack.api('GET', `/v1/photos/${res.body.id}`, { token });
    expect(photo.body).toMatchObject({
      status: 'rejected',
      verdict: { usable: false, reasons: [{ code: 'corrupt_image' }] },
    });
    const content = await stack.api('GET', `/v1/photos/${res.body.id}/content`, { token });
    expect(content.status).toBe(422);
    expect(content.body.code).toBe('corrupt_image');
    expect(content.headers.get('retry-after')).toBeNull();
    // Its bytes are not kept: the object holds nothing of the upload any more.
    const blob = await stack.ctx.db
      .selectFrom('photos')
      .innerJoin('blobs', 'blobs.id', 'photos.blob_id')
      .selectAll('blobs')
      .where('photos.id', '=', res.body.id)
      .executeTakeFirstOrThrow();
    expect(blob.size_bytes).toBe(0);
    expect((await stack.ctx.storage.read(blob)).length).toBe(0);
  });

  it('PH3 deleting a photo waits for a preparation that holds it, so no object is written back after the deletion', async () => {
    const res = await post(await fixture('astronaut.png'));
    const { object_key } = await stack.ctx.db
      .selectFrom('photos')
      .innerJoin('blobs', 'blobs.id', 'photos.blob_id')
      .select('blobs.object_key')
      .where('photos.id', '=', res.body.id)
      .executeTakeFirstOrThrow();
    // Hold the row as core/photos/preparation.ts does while it writes.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const holder = stack.ctx.db.transaction().execute(async (trx) => {
      await trx.selectFrom('photos').select('id').where('id', '=', res.body.id).forUpdate().execute();
      locked();
      await held;
    });
    await isLocked;
    const deletion = stack.api('DELETE', `/v1/photos/${res.body.id}`, { token });
    await until(
      async () =>
        Number(
          (
            await sql<{
              n: string;
            }>`select count(*) as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`.execute(
              stack.ctx.db,
            )
          ).rows[0].n,
        ) > 0,
      10_000,
      'the deletion to wait for the lock',
    );
    expect(await stack.ctx.storage.listKeys('originals')).toContain(object_key); // not removed under the holder
    release();
    await holder;
    expect((await deletion).status).toBe(204);
    expect(await stack.ctx.storage.listKeys('originals')).not.toContain(object_key);
    expect(
      await stack.ctx.db.selectFrom('photos').select('id').where('id', '=', res.body.id).executeTakeFirst(),
    ).toBeUndefined();
  });

  it('PH3 an upload whose preparation job was lost is prepared after the stalled-work sweep re-drives it', async () => {
    const res = await post(await fixture('astronaut.png'));
    expect(res.status).toBe(201);
    const job = () => stack.ctx.queues.byName.preparation.getJob(jobId('prepare', res.body.id));
    await (await job())!.remove(); // as if Redis had lost it
    await sweepHandlers['sweep.stalled-orders'](stack.ctx, {}, {} as Job);
    expect(await job()).toBeUndefined(); // not yet stalled
    stack.clock.advance(11 * 60_000);
    await sweepHandlers['sweep.stalled-orders'](stack.ctx, {}, {} as Job);
    expect((await job())?.data).toEqual({ photoId: res.body.id });
  });

  it('PH3 an upload whose preparation failed for good (an outage longer than its attempts) is retried by the sweep', async () => {
    const { preparation } = stack.ctx.queues.byName;
    await preparation.drain(); // earlier tests' jobs: this stack has no worker; only ours is waiting now
    const res = await post(await fixture('astronaut.png'));
    const id = jobId('prepare', res.body.id);
    // Fail it the way a worker does on its last attempt.
    const worker = new Worker(preparation.name, null, {
      connection: preparation.opts.connection,
      prefix: stack.config.QUEUE_PREFIX,
    });
    try {
      const taken = await worker.getNextJob('test-token');
      expect(taken?.id).toBe(id);
      // UnrecoverableError: no further attempt, as when the last one fails.
      await taken!.moveToFailed(new UnrecoverableError('connect ECONNREFUSED (S3)'), 'test-token');
    } finally {
      await worker.close();
    }
    expect(await (await preparation.getJob(id))!.getState()).toBe('failed');
    await stack.ctx.queues.enqueue('photo.prepare', { photoId: res.body.id }, { jobId: id });
    expect(await (await preparation.getJob(id))!.getState()).toBe('failed'); // a plain add is ignored
    stack.clock.advance(11 * 60_000);
    await sweepHandlers['sweep.stalled-orders'](stack.ctx, {}, {} as Job);
    const again = (await preparation.getJob(id))!;
    expect(await again.getState()).toBe('waiting');
    expect(again.attemptsMade).toBe(0);
  });

  const refusals: [string, () => Promise<Buffer>, number, string][] = [
    ['a file that is not an image', async () => Buffer.from(`%PDF-1.7\n${'x'.repeat(2000)}`), 415, 'unsupported_type'],
    [
      'an SVG disguised as a JPEG',
      async () => Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'),
      415,
      'unsupported_type',
    ],
    [
      'a truncated JPEG',
      async () => {
        const jpeg = await sharp(await fixture('astronaut.png'))
          .jpeg()
          .toBuffer();
        return jpeg.subarray(0, Math.floor(jpeg.length * 0.6));
      },
      422,
      'corrupt_image',
    ],
    [
      'a truncated HEIC',
      async () => {
        const heic = await fixture('heic/iphone-sideways.heic');
        return heic.subarray(0, Math.floor(heic.length * 0.8));
      },
      422,
      'corrupt_image',
    ],
    [
      'a HEIF whose image is coded in a way the service does not read (JPEG in HEIF)',
      async () => {
        // The fixture's coded image relabelled: its container says 'jpeg' where it said 'hvc1'.
        const heic = Buffer.from(await fixture('heic/iphone-sideways.heic'));
        for (const [from, to] of [
          ['hvc1', 'jpeg'],
          ['hvcC', 'jpgC'],
        ] as const) {
          for (let i = heic.indexOf(from); i >= 0 && i < 1000; i = heic.indexOf(from, i + 4))
            heic.write(to, i, 'latin1');
        }
        return heic;
      },
      415,
      'unsupported_type',
    ],
    [
      'a 60-megapixel PNG',
      async () =>
        sharp({ create: { width: 7746, height: 7746, channels: 3, background: '#808080' } })
          .png({ compressionLevel: 9 })
          .toBuffer(),
      413,
      'too_many_pixels',
    ],
    [
      'a 30 MB upload',
      async () => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(30 * 1024 * 1024)]),
      413,
      'upload_too_large',
    ],
    ['an empty file', async () => Buffer.alloc(0), 400, 'empty_file'],
  ];

  for (const [what, make, status, code] of refusals) {
    it(`PH2 refuses ${what} with ${status} ${code}, leaving no row, object or job`, async () => {
      const data = await make();
      const before = await footprint(stack);
      const res = await post(data);
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body).toMatchObject({ status, code });
      expect(res.body.detail).toEqual(expect.any(String));
      // A damaged file is most often one that did not finish saving or copying: the person is told what to do.
      if (code === 'corrupt_image') expect(res.body.detail).toContain('Choose the photo again');
      expect(await footprint(stack)).toEqual(before);
    });
  }

  it('PH2 tells a photo sent under another field (400 missing_file) from an empty one, naming the field', async () => {
    const before = await footprint(stack);
    const res = await stack.api('POST', '/v1/photos', {
      token,
      body: multipart('file', await fixture('astronaut.png'), 'me.png', 'image/png'),
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'missing_file' });
    expect(res.body.detail).toContain('"photo"');
    const empty = await post(Buffer.alloc(0));
    expect(empty.body.detail).toContain('0 bytes');
    expect(await footprint(stack)).toEqual(before);
  });

  it('PH2 answers a body that is not multipart with 415 multipart_required', async () => {
    const res = await stack.api('POST', '/v1/photos', { token, json: { photo: 'base64...' } });
    expect(res.status).toBe(415);
    expect(res.body.code).toBe('multipart_required');
  });
});

import type { Router } from 'express';
import type { AppContext } from '../../core/platform/context';
import { newId, signToken, verifyToken } from '../../core/platform/crypto';
import { deletePhotos } from '../../core/privacy/deletion';
import type { Photo } from '../../core/platform/db';
import { checkUpload, ImageRejected, isPrepared, MIME } from '../../core/photos/images';
import { jobId } from '../../core/platform/jobs';
import { ctxOf } from '../auth';
import { readSingleImage } from '../multipart';
import { UploadGate } from '../upload-gate';
import type { z } from '../openapi';
import { HttpError, notFound } from '../problem';
import { route } from '../route';
import { PhotoEventHub, type PhotoEvent } from '../../core/photos/photo-events';
import { REASON_HINTS, type Reason, type Verdict } from '../../core/photos/verdict';
import { Cursor, IdParam, idOf, iso, page, pageOf, PhotoOut, TokenParam } from '../schemas';

export function photoOut(ctx: AppContext, p: Photo): z.infer<typeof PhotoOut> {
  return {
    id: p.id,
    detected_type: p.detected_type as z.infer<typeof PhotoOut>['detected_type'],
    size_bytes: Number(p.size_bytes),
    width: p.width,
    height: p.height,
    uploaded_at: iso(p.uploaded_at)!,
    status: p.status,
    verdict: p.verdict ? verdictOut(p.verdict as Verdict) : null,
    thumbnail_url: p.thumb_blob_id ? thumbnailUrl(ctx, p) : null,
  };
}

/** A signed link to a photo's thumbnail for <img> (which cannot send a bearer token), valid for minutes (SC5). */
function thumbnailUrl(ctx: AppContext, p: Photo): string {
  const exp = Math.floor(ctx.clock.now().getTime() / 1000) + ctx.config.DOWNLOAD_LINK_TTL_SECONDS;
  return `${ctx.publicUrl}/v1/thumbnails/${signToken(ctx.config.LINK_SECRET, 'thumbnail', { ph: p.id, u: p.user_id, exp })}`;
}

/** The stored verdict as shown: its own fields only, never the framing geometry kept beside it. */
function verdictOut(v: Verdict): Verdict & { advice: NonNullable<Verdict['advice']> } {
  return { usable: v.usable, faces: v.faces, ...(v.boxes && { boxes: v.boxes }), ...(v.score !== undefined && { score: v.score }), reasons: reasonsOf(v), advice: v.advice ?? [], ...(v.measurements && { measurements: v.measurements }) };
}

/**
 * A stored verdict's reasons as the API shows them: every reason with its hint (verdicts stored
 * before hints existed get theirs here), and never the framing geometry kept beside them.
 */
export function reasonsOf(verdict: unknown): Reason[] {
  const reasons = ((verdict as Verdict | null)?.reasons ?? []) as Reason[];
  return reasons.map((r) => ({ ...r, hint: r.hint ?? REASON_HINTS[r.code] ?? '' }));
}

export async function ownedPhoto(ctx: AppContext, userId: string, id: string): Promise<Photo> {
  const photo = await ctx.db.selectFrom('photos').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  if (!photo) throw notFound('Photo');
  return photo;
}

/** Event streams one person may hold open at once (per API process). */
const MAX_STREAMS = 5;
/** A comment line this often keeps proxies from closing an idle stream and tells a client it is alive. */
const KEEP_ALIVE_MS = 15_000;
/** How long an EventSource-style client waits before reconnecting. */
const RETRY_MS = 3_000;
const hubs = new WeakMap<AppContext, PhotoEventHub>();
const hubOf = (ctx: AppContext) => {
  let h = hubs.get(ctx);
  if (!h) {
    h = new PhotoEventHub(ctx);
    hubs.set(ctx, h);
    ctx.shutdown.signal.addEventListener('abort', () => h!.close(), { once: true });
  }
  return h;
};

const gates = new WeakMap<AppContext, UploadGate>();
const gateOf = (ctx: AppContext) => {
  let g = gates.get(ctx);
  if (!g) {
    g = new UploadGate(ctx.config.UPLOAD_CONCURRENCY);
    gates.set(ctx, g);
  }
  return g;
};

/** The rows of an upload whose job could not be queued. */
async function removeRows(ctx: AppContext, photo: Photo): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('photos').where('id', '=', photo.id).execute();
    await trx.deleteFrom('blobs').where('id', '=', photo.blob_id).execute();
  });
}

const PhotoId = IdParam('pho', 'photo');

const REJECT_STATUS: Record<ImageRejected['code'], number> = { unsupported_type: 415, too_many_pixels: 413, corrupt_image: 422 };

export function photoRoutes(router: Router): void {
  route(
    router,
    {
      method: 'post',
      path: '/v1/photos',
      operationId: 'uploadPhoto',
      summary: 'Upload a selfie',
      tags: ['Photos'],
      auth: 'user',
      rateLimit: 'uploads',
      requestBody: {
        content: {
          'multipart/form-data': {
            schema: {
              type: 'object',
              required: ['photo'],
              properties: {
                photo: { type: 'string', format: 'binary', description: 'JPEG, PNG, WebP or HEIC (HEIF coded with HEVC, as iPhones save it, or AV1)' },
                subject: { type: 'string', enum: ['self', 'minor'], default: 'self', description: 'Whose photo this is' },
                parental_authority: { type: 'string', enum: ['true'], description: 'Required with subject=minor: the uploader attests parental authority' },
              },
            },
          },
        },
      },
      responses: { 201: { description: 'Accepted and stored encrypted, status preparing: the worker applies the orientation and strips every metadata block within seconds (poll the photo until its status is no longer preparing)', schema: PhotoOut } },
      errors: { 400: 'missing_file, malformed_multipart', 413: 'upload_too_large, too_many_pixels', 415: 'unsupported_type, multipart_required', 422: 'corrupt_image, parental_attestation_required', 429: 'too_many_photos' },
    },
    async (req, res, { user }) => {
      const ctx = ctxOf(req);
      const count = await ctx.db.selectFrom('photos').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', user.id).executeTakeFirstOrThrow();
      if (Number(count.n) >= ctx.config.UPLOAD_MAX_FILES_PER_USER) {
        throw new HttpError(429, 'too_many_photos', 'Photo limit reached', `You can keep at most ${ctx.config.UPLOAD_MAX_FILES_PER_USER} photos; delete some first.`);
      }
      const { upload, subject, image } = await gateOf(ctx).run(async () => {
        const upload = await readSingleImage(req, { field: 'photo', maxBytes: ctx.config.UPLOAD_MAX_BYTES });
        // PH4: a photo of a minor needs the uploader's attestation of parental authority.
        const subject = upload.fields.subject ?? 'self';
        if (subject !== 'self' && subject !== 'minor') throw new HttpError(400, 'validation_failed', 'The request is not valid', 'subject must be "self" or "minor".');
        if (subject === 'minor' && upload.fields.parental_authority !== 'true') {
          throw new HttpError(422, 'parental_attestation_required', 'Parental authority required', 'A photo of a minor can only be uploaded by someone with parental authority who attests to it (parental_authority=true).');
        }
        try {
          return { upload, subject: subject as 'self' | 'minor', image: await checkUpload(upload.data, upload.type, ctx.config.UPLOAD_MAX_PIXELS) };
        } catch (err) {
          if (err instanceof ImageRejected) throw new HttpError(REJECT_STATUS[err.code], err.code, 'Photo refused', err.message);
          throw err;
        }
      });
      // Stored encrypted as uploaded; the worker orients and strips it in place (worker/prepare.ts).
      // The object goes up first, with no database connection held; then the blob and photo rows
      // commit together in one short transaction.
      const now = ctx.clock.now();
      const stored = await ctx.storage.upload({ userId: user.id, role: 'originals', contentType: MIME[upload.type], data: upload.data, at: now });
      let photo: Photo | undefined;
      try {
        photo = await ctx.db.transaction().execute(async (trx) => {
          const blob = await ctx.storage.recordUploaded(trx, stored);
          return trx
            .insertInto('photos')
            .values({ id: newId('pho'), user_id: user.id, blob_id: blob.id, detected_type: upload.type, size_bytes: upload.data.length, width: image.width, height: image.height, uploaded_at: now, status: 'preparing', verdict: null, processed_at: null, subject, parental_attestation_at: subject === 'minor' ? now : null })
            .returningAll()
            .executeTakeFirstOrThrow();
        });
        await ctx.queues.enqueue('photo.prepare', { photoId: photo.id }, { jobId: jobId('prepare', photo.id) });
      } catch (err) {
        // Nothing half-written: no row, object or job without the others. Rows go before the
        // object; if they cannot (the database is down too), the object stays with them and the
        // stalled-work sweep queues the preparation later.
        const rowsGone = !photo || (await removeRows(ctx, photo).then(() => true, () => false));
        if (rowsGone) await ctx.storage.removeObject({ bucket: stored.bucket, object_key: stored.objectKey }).catch(() => {});
        throw err;
      }
      res.status(201).location(`/v1/photos/${photo.id}`).json(photoOut(ctx, photo));
    },
  );

  route(
    router,
    { method: 'get', path: '/v1/photos', operationId: 'listPhotos', summary: 'List your photos', tags: ['Photos'], auth: 'user', query: Cursor(idOf('pho', 'photo')), responses: { 200: { description: 'Newest first', schema: page(PhotoOut, 'PhotoPage') } } },
    async (req, res, { user, query }) => {
      const ctx = ctxOf(req);
      let q = ctx.db.selectFrom('photos').selectAll().where('user_id', '=', user.id).orderBy('id', 'desc').limit(query.limit + 1);
      if (query.cursor) q = q.where('id', '<', query.cursor);
      const { items, next_cursor } = pageOf(await q.execute(), query.limit);
      res.json({ items: items.map((p) => photoOut(ctx, p)), next_cursor });
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/photos/events',
      operationId: 'followPhotoEvents',
      summary: "Follow your photos' status as server-sent events",
      description:
        "text/event-stream of `photo` events, each `{\"id\", \"status\"}` (no personal data): first one per photo you hold, then a `ready` event (the current state is sent), then one `photo` event at each change (preparing → analysing → usable | unusable | rejected). Fetch the photo for its verdict. The headers and a `retry` line are sent at once on connect; a comment line every 15 s keeps proxies from closing the stream and shows a client it is alive. Browsers send the bearer token with fetch() and read the body as a stream (EventSource cannot send headers). At most " +
        MAX_STREAMS +
        ' streams per person.',
      tags: ['Photos'],
      auth: 'user',
      responses: { 200: { description: 'The event stream; it ends when the service shuts down (reconnect, you get the current state again)', contentType: 'text/event-stream' } },
      errors: { 429: 'too_many_streams' },
    },
    async (req, res, { user }) => {
      const ctx = ctxOf(req);
      const hub = hubOf(ctx);
      if (hub.streamsOf(user.id) >= MAX_STREAMS) throw new HttpError(429, 'too_many_streams', 'Too many event streams', `At most ${MAX_STREAMS} streams per person; close one first.`);
      const send = (e: { id: string; status: string }) => res.write(`event: photo\ndata: ${JSON.stringify({ id: e.id, status: e.status })}\n\n`);
      const buffered: PhotoEvent[] = [];
      let live = false;
      // Follow first, then read the current state, so no change falls between the two.
      const unfollow = await hub.follow(user.id, (e) => (live ? send(e) : buffered.push(e)));
      try {
        const rows = await ctx.db.selectFrom('photos').select(['id', 'status']).where('user_id', '=', user.id).orderBy('id').execute();
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
        // The headers and a first line go at once: a person with no photos would otherwise wait
        // for the first keep-alive before their client sees the stream open.
        res.flushHeaders();
        res.write(`retry: ${RETRY_MS}\n\n`);
        for (const row of rows) send(row);
        for (const e of buffered) send(e);
        // The current state is sent: from here on each event is a change.
        res.write('event: ready\ndata: {}\n\n');
        live = true;
      } catch (err) {
        unfollow();
        throw err;
      }
      const beat = setInterval(() => res.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
      await new Promise<void>((resolve) => {
        const end = () => resolve();
        req.on('close', end);
        ctx.shutdown.signal.addEventListener('abort', end, { once: true });
      });
      clearInterval(beat);
      unfollow();
      res.end();
    },
  );

  route(
    router,
    { method: 'get', path: '/v1/photos/:id', operationId: 'getPhoto', summary: 'One photo with its quality verdict', tags: ['Photos'], auth: 'user', params: PhotoId, responses: { 200: { description: 'Photo', schema: PhotoOut } }, errors: { 404: 'not_found' } },
    async (req, res, { user, params }) => {
      const ctx = ctxOf(req);
      res.json(photoOut(ctx, await ownedPhoto(ctx, user.id, params.id)));
    },
  );

  route(
    router,
    { method: 'get', path: '/v1/photos/:id/content', operationId: 'getPhotoContent', summary: 'Download your photo (as stored: oriented, no metadata)', tags: ['Photos'], auth: 'user', params: PhotoId, responses: { 200: { description: 'JPEG', contentType: 'image/jpeg' } }, errors: { 404: 'not_found', 409: 'photo_not_ready', 422: 'corrupt_image' } },
    async (req, res, { user, params }) => {
      const ctx = ctxOf(req);
      const photo = await ownedPhoto(ctx, user.id, params.id);
      // Only prepared photos are served: before that the object still holds the upload's metadata.
      if (photo.status === 'preparing') {
        res.setHeader('Retry-After', '2');
        throw new HttpError(409, 'photo_not_ready', 'Photo not ready', 'The photo is still being prepared; try again in a few seconds.');
      }
      if (!isPrepared(photo)) throw new HttpError(422, 'corrupt_image', 'Photo could not be decoded', 'The photo could not be decoded at full size; its bytes were not kept. Upload it again or use another photo.');
      const blob = await ctx.db.selectFrom('blobs').selectAll().where('id', '=', photo.blob_id).executeTakeFirstOrThrow();
      await streamBlob(ctx, blob, res);
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/thumbnails/:token',
      operationId: 'followThumbnailLink',
      summary: "Follow a photo's signed thumbnail link (Photo.thumbnail_url)",
      tags: ['Photos'],
      auth: 'none',
      params: TokenParam,
      responses: { 200: { description: 'JPEG, at most 384 px on its longer side, no metadata', contentType: 'image/jpeg' } },
      errors: { 403: 'link_invalid', 410: 'link_expired' },
    },
    async (req, res, { params }) => {
      const ctx = ctxOf(req);
      const claim = verifyToken<{ ph: string; u: string; exp: number }>(ctx.config.LINK_SECRET, 'thumbnail', params.token);
      if (!claim) throw new HttpError(403, 'link_invalid', 'Invalid link', 'This thumbnail link is not valid.');
      if (claim.exp * 1000 < ctx.clock.now().getTime()) throw new HttpError(410, 'link_expired', 'Link expired', 'List your photos again for a fresh link.');
      const photo = await ctx.db.selectFrom('photos').select('thumb_blob_id').where('id', '=', claim.ph).where('user_id', '=', claim.u).executeTakeFirst();
      const blob = photo?.thumb_blob_id ? await ctx.db.selectFrom('blobs').selectAll().where('id', '=', photo.thumb_blob_id).executeTakeFirst() : undefined;
      if (!blob) throw new HttpError(410, 'link_expired', 'No longer available', 'This photo is no longer held.');
      await streamBlob(ctx, blob, res);
    },
  );

  route(
    router,
    { method: 'delete', path: '/v1/photos/:id', operationId: 'deletePhoto', summary: 'Delete a photo now', tags: ['Photos'], auth: 'user', params: PhotoId, responses: { 204: { description: 'Deleted from the store and the database' } }, errors: { 404: 'not_found', 409: 'photo_in_use' } },
    async (req, res, { user, params }) => {
      const ctx = ctxOf(req);
      const photo = await ownedPhoto(ctx, user.id, params.id);
      const busy = await ctx.db
        .selectFrom('order_photos')
        .innerJoin('orders', 'orders.id', 'order_photos.order_id')
        .select('orders.id')
        .where('order_photos.photo_id', '=', photo.id)
        .where('orders.status', 'in', ['received', 'processing'])
        .executeTakeFirst();
      if (busy) throw new HttpError(409, 'photo_in_use', 'Photo is being processed', 'Wait until the order using it is ready, then delete it.');
      await deletePhotos(ctx, [photo.id], 'owner_request');
      res.status(204).end();
    },
  );
}

/** Streams a decrypted object to the response; the store only ever holds ciphertext. */
export async function streamBlob(ctx: AppContext, blob: import('../../core/platform/db').Blob, res: import('express').Response, filename?: string): Promise<void> {
  const stream = await ctx.storage.stream(blob);
  res.setHeader('Content-Type', blob.content_type);
  res.setHeader('Content-Length', String(blob.size_bytes));
  res.setHeader('Cache-Control', 'private, no-store');
  if (filename) res.setHeader('Content-Disposition', `attachment; filename="${filename}"`);
  await new Promise<void>((resolve, reject) => {
    stream.on('error', (err) => {
      res.destroy(err);
      reject(err);
    });
    res.on('finish', resolve);
    res.on('close', resolve);
    stream.pipe(res);
  });
}

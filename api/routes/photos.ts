import type { Router } from 'express';
import type { AppContext } from '../../core/platform/context';
import { verifyToken } from '../../core/platform/crypto';
import { PhotoEventHub, type PhotoEvent } from '../../core/photos/photo-events';
import { ownedPhoto, photoContent, photosPage, photoStatuses, thumbnailBlob } from '../../core/photos/photos';
import { deleteOwnPhoto } from '../../core/privacy/photo-deletion';
import { assertRoomForPhoto, checkPhoto, storePhoto } from '../../core/photos/uploads';
import { ctxOf } from '../auth';
import { readSingleImage } from '../multipart';
import { photoOut } from '../photo-out';
import { HttpError } from '../problem';
import { route } from '../route';
import { Cursor, IdParam, idOf, page, PhotoOut, TokenParam } from '../schemas';
import { streamBlob } from '../stream-blob';
import { UploadGate } from '../upload-gate';

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

const PhotoId = IdParam('pho', 'photo');

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
                photo: {
                  type: 'string',
                  format: 'binary',
                  description: 'JPEG, PNG, WebP or HEIC (HEIF coded with HEVC, as iPhones save it, or AV1)',
                },
                subject: {
                  type: 'string',
                  enum: ['self', 'minor'],
                  default: 'self',
                  description: 'Whose photo this is',
                },
                parental_authority: {
                  type: 'string',
                  enum: ['true'],
                  description: 'Required with subject=minor: the uploader attests parental authority',
                },
              },
            },
          },
        },
      },
      responses: {
        201: {
          description:
            'Accepted and stored encrypted, status preparing: the worker applies the orientation and strips every metadata block within seconds (poll the photo until its status is no longer preparing)',
          schema: PhotoOut,
        },
      },
      errors: {
        400: 'missing_file, empty_file, malformed_multipart',
        413: 'upload_too_large, too_many_pixels',
        415: 'unsupported_type, multipart_required',
        422: 'corrupt_image, parental_attestation_required',
        429: 'too_many_photos',
      },
    },
    async (req, res, { user }) => {
      const ctx = ctxOf(req);
      await assertRoomForPhoto(ctx, user.id);
      const checked = await gateOf(ctx).run(async () => {
        const upload = await readSingleImage(req, { field: 'photo', maxBytes: ctx.config.UPLOAD_MAX_BYTES });
        return checkPhoto(ctx, {
          data: upload.data,
          type: upload.type,
          subject: upload.fields.subject,
          parentalAuthority: upload.fields.parental_authority,
        });
      });
      const photo = await storePhoto(ctx, user.id, checked);
      res.status(201).location(`/v1/photos/${photo.id}`).json(photoOut(ctx, photo));
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/photos',
      operationId: 'listPhotos',
      summary: 'List your photos',
      tags: ['Photos'],
      auth: 'user',
      query: Cursor(idOf('pho', 'photo')),
      responses: { 200: { description: 'Newest first', schema: page(PhotoOut, 'PhotoPage') } },
    },
    async (req, res, { user, query }) => {
      const ctx = ctxOf(req);
      const { items, next_cursor } = await photosPage(ctx, user.id, query);
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
        'text/event-stream of `photo` events, each `{"id", "status"}` (no personal data): first one per photo you hold, then a `ready` event (the current state is sent), then one `photo` event at each change (preparing → analysing → usable | unusable | rejected). Fetch the photo for its verdict. The headers and a `retry` line are sent at once on connect; a comment line every 15 s keeps proxies from closing the stream and shows a client it is alive. Browsers send the bearer token with fetch() and read the body as a stream (EventSource cannot send headers). At most ' +
        MAX_STREAMS +
        ' streams per person.',
      tags: ['Photos'],
      auth: 'user',
      responses: {
        200: {
          description:
            'The event stream; it ends when the service shuts down (reconnect, you get the current state again)',
          contentType: 'text/event-stream',
        },
      },
      errors: { 429: 'too_many_streams' },
    },
    async (req, res, { user }) => {
      const ctx = ctxOf(req);
      const hub = hubOf(ctx);
      if (hub.streamsOf(user.id) >= MAX_STREAMS)
        throw new HttpError(
          429,
          'too_many_streams',
          'Too many event streams',
          `At most ${MAX_STREAMS} streams per person; close one first.`,
        );
      const send = (e: { id: string; status: string }) =>
        res.write(`event: photo\ndata: ${JSON.stringify({ id: e.id, status: e.status })}\n\n`);
      const buffered: PhotoEvent[] = [];
      let live = false;
      // Follow first, then read the current state, so no change falls between the two.
      const unfollow = await hub.follow(user.id, (e) => (live ? send(e) : buffered.push(e)));
      try {
        const rows = await photoStatuses(ctx, user.id);
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          'x-accel-buffering': 'no',
        });
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
    {
      method: 'get',
      path: '/v1/photos/:id',
      operationId: 'getPhoto',
      summary: 'One photo with its quality verdict',
      tags: ['Photos'],
      auth: 'user',
      params: PhotoId,
      responses: { 200: { description: 'Photo', schema: PhotoOut } },
      errors: { 404: 'not_found' },
    },
    async (req, res, { user, params }) => {
      const ctx = ctxOf(req);
      res.json(photoOut(ctx, await ownedPhoto(ctx, user.id, params.id)));
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/photos/:id/content',
      operationId: 'getPhotoContent',
      summary: 'Download your photo (as stored: oriented, no metadata)',
      tags: ['Photos'],
      auth: 'user',
      params: PhotoId,
      responses: { 200: { description: 'JPEG', contentType: 'image/jpeg' } },
      errors: { 404: 'not_found', 409: 'photo_not_ready', 422: 'corrupt_image' },
    },
    async (req, res, { user, params }) => {
      const ctx = ctxOf(req);
      const blob = await photoContent(ctx, user.id, params.id).catch((err: unknown) => {
        if (err instanceof HttpError && err.code === 'photo_not_ready') res.setHeader('Retry-After', '2');
        throw err;
      });
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
      responses: {
        200: { description: 'JPEG, at most 384 px on its longer side, no metadata', contentType: 'image/jpeg' },
      },
      errors: { 403: 'link_invalid', 410: 'link_expired' },
    },
    async (req, res, { params }) => {
      const ctx = ctxOf(req);
      const claim = verifyToken<{ ph: string; u: string; exp: number }>(
        ctx.config.LINK_SECRET,
        'thumbnail',
        params.token,
      );
      if (!claim) throw new HttpError(403, 'link_invalid', 'Invalid link', 'This thumbnail link is not valid.');
      if (claim.exp * 1000 < ctx.clock.now().getTime())
        throw new HttpError(410, 'link_expired', 'Link expired', 'List your photos again for a fresh link.');
      const blob = await thumbnailBlob(ctx, claim.u, claim.ph);
      if (!blob) throw new HttpError(410, 'link_expired', 'No longer available', 'This photo is no longer held.');
      await streamBlob(ctx, blob, res);
    },
  );

  route(
    router,
    {
      method: 'delete',
      path: '/v1/photos/:id',
      operationId: 'deletePhoto',
      summary: 'Delete a photo now',
      tags: ['Photos'],
      auth: 'user',
      params: PhotoId,
      responses: { 204: { description: 'Deleted from the store and the database' } },
      errors: { 404: 'not_found', 409: 'photo_in_use' },
    },
    async (req, res, { user, params }) => {
      const ctx = ctxOf(req);
      await deleteOwnPhoto(ctx, user.id, params.id);
      res.status(204).end();
    },
  );
}

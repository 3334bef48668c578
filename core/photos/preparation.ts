import type { AppContext } from '../platform/context';
import type { Blob, Photo } from '../platform/db';
import { MIME, normaliseUpload, type NormalisedImage } from './images';
import { announce, lockPreparing, markPrepared, markUndecodable } from './lifecycle';
import { makeThumbnail } from './thumbnail';

/** A photo as its preparation leaves it, with its stored object: what analysis reads. */
export interface PreparedPhoto {
  photo: Photo;
  blob: Blob;
}

/**
 * The first thing done to every upload (PH3): decoded once at full size, EXIF orientation applied,
 * converted to sRGB, every metadata block stripped, and written back over the upload's own object,
 * so the raw file with its EXIF and GPS lives only until this has run (seconds). The API only
 * checked the upload (images.ts checkUpload); nothing reads a photo before it is prepared.
 * Idempotent: a photo already prepared is answered as it is, and a crash between the write and the
 * commit leaves a readable photo that prepares again (its prepared JPEG re-encoded once more).
 * Undefined when the photo is gone.
 */
export async function preparePhoto(ctx: AppContext, photoId: string): Promise<PreparedPhoto | undefined> {
  const photo = await ctx.db.selectFrom('photos').selectAll().where('id', '=', photoId).executeTakeFirst();
  if (!photo) return undefined;
  const blob = await ctx.db.selectFrom('blobs').selectAll().where('id', '=', photo.blob_id).executeTakeFirstOrThrow();
  if (photo.status !== 'preparing') return { photo, blob };
  let image: NormalisedImage | undefined;
  try {
    image = await normaliseUpload(await ctx.storage.read(blob), ctx.config.UPLOAD_MAX_PIXELS);
  } catch (err) {
    // Passed the check at the door but fails at full size (rare): refused with a reason the owner
    // sees, and its bytes are not kept (PH2): the object is emptied, the row keeps the verdict.
    ctx.logger.warn(
      { photoId, err: (err as Error).message },
      'upload failed to decode at full size; photo rejected and its bytes dropped',
    );
  }
  // The thumbnail goes up before the transaction (no connection held during the upload) and is
  // recorded in it, or removed if the photo was deleted or prepared meanwhile: no orphan object.
  const thumb =
    image &&
    (await ctx.storage.upload({
      userId: photo.user_id,
      role: 'originals',
      contentType: MIME.jpeg,
      data: await makeThumbnail(image.data),
      at: ctx.clock.now(),
    }));
  const removeThumb = () =>
    thumb ? ctx.storage.removeObject({ bucket: thumb.bucket, object_key: thumb.objectKey }) : Promise.resolve();
  // One writer at a time: under the row lock, only a photo still preparing is written, so the
  // object and its recorded size always come from the same run. A photo deleted meanwhile has no
  // row to lock and is not written back.
  const written = await ctx.db
    .transaction()
    .execute(async (trx) => {
      if (!(await lockPreparing(trx, photoId))) return undefined;
      const data = image?.data ?? Buffer.alloc(0);
      await ctx.storage.replace(blob, data);
      const stored = { content_type: image ? MIME.jpeg : 'application/octet-stream', size_bytes: data.length };
      await trx.updateTable('blobs').set(stored).where('id', '=', blob.id).execute();
      if (!image) {
        await markUndecodable(ctx, trx, photoId);
        return { blob: { ...blob, ...stored }, status: 'rejected' as const };
      }
      const thumbBlob = thumb && (await ctx.storage.recordUploaded(trx, thumb));
      await markPrepared(trx, photoId, {
        width: image.width,
        height: image.height,
        thumbBlobId: thumbBlob?.id ?? null,
      });
      return {
        blob: { ...blob, ...stored },
        status: 'analysing' as const,
        width: image.width,
        height: image.height,
        thumb_blob_id: thumbBlob?.id ?? null,
      };
    })
    .catch(async (err) => {
      await removeThumb().catch(() => {});
      throw err;
    });
  if (!written) {
    await removeThumb();
    const now = await ctx.db.selectFrom('photos').selectAll().where('id', '=', photoId).executeTakeFirst();
    return (
      now && {
        photo: now,
        blob: await ctx.db.selectFrom('blobs').selectAll().where('id', '=', now.blob_id).executeTakeFirstOrThrow(),
      }
    );
  }
  await announce(ctx, photo, written.status);
  const { blob: newBlob, ...changes } = written;
  return { photo: { ...photo, ...changes }, blob: newBlob };
}

import type { AppContext } from '../core/platform/context';
import { MIME, normaliseUpload } from '../core/photos/images';
import { jobId } from '../core/platform/jobs';
import type { Handler } from '../core/platform/workers';
import { publishPhotoStatus } from '../core/photos/photo-events';
import { makeThumbnail } from '../core/photos/thumbnail';
import { UNDECODABLE_VERDICT } from '../core/photos/verdict';

/**
 * The first thing done to every upload (PH3): decoded once at full size, EXIF orientation applied,
 * converted to sRGB, every metadata block stripped, and written back over the upload's own object,
 * so the raw file with its EXIF and GPS lives only until this job has run (seconds). The API only
 * checked the upload (core/photos/images.ts checkUpload); nothing reads a photo before it is prepared.
 * Idempotent: a prepared photo is left alone, and a crash between the write and the commit leaves
 * a readable photo that prepares again (its prepared JPEG re-encoded once more).
 */
export async function preparePhoto(ctx: AppContext, photoId: string): Promise<void> {
  const photo = await ctx.db.selectFrom('photos').selectAll().where('id', '=', photoId).executeTakeFirst();
  if (!photo || photo.status !== 'preparing') return;
  const blob = await ctx.db.selectFrom('blobs').selectAll().where('id', '=', photo.blob_id).executeTakeFirstOrThrow();
  const upload = await ctx.storage.read(blob);
  let image: Awaited<ReturnType<typeof normaliseUpload>> | undefined;
  try {
    image = await normaliseUpload(upload, ctx.config.UPLOAD_MAX_PIXELS);
  } catch (err) {
    // Passed the check at the door but fails at full size (rare): refused with a reason the owner
    // sees, and its bytes are not kept (PH2): the object is emptied, the row keeps the verdict.
    ctx.logger.warn({ photoId, err: (err as Error).message }, 'upload failed to decode at full size; photo rejected and its bytes dropped');
  }
  // The thumbnail goes up before the transaction (no connection held during the upload) and is
  // recorded in it, or removed if the photo was deleted or prepared meanwhile: no orphan object.
  const thumb = image && (await ctx.storage.upload({ userId: photo.user_id, role: 'originals', contentType: MIME.jpeg, data: await makeThumbnail(image.data), at: ctx.clock.now() }));
  // One writer at a time: under the row lock, only a photo still preparing is written, so the
  // object and its recorded size always come from the same run. A photo deleted meanwhile has no
  // row to lock and is not written back.
  const written = await ctx.db
    .transaction()
    .execute(async (trx) => {
      const still = await trx.selectFrom('photos').select('status').where('id', '=', photoId).forUpdate().executeTakeFirst();
      if (still?.status !== 'preparing') return false;
      const data = image?.data ?? Buffer.alloc(0);
      await ctx.storage.replace(blob, data);
      await trx.updateTable('blobs').set({ content_type: image ? MIME.jpeg : 'application/octet-stream', size_bytes: data.length }).where('id', '=', blob.id).execute();
      const thumbBlob = thumb && (await ctx.storage.recordUploaded(trx, thumb));
      await trx
        .updateTable('photos')
        .set(image ? { status: 'analysing', width: image.width, height: image.height, thumb_blob_id: thumbBlob?.id ?? null } : { status: 'rejected', verdict: JSON.stringify(UNDECODABLE_VERDICT), processed_at: ctx.clock.now() })
        .where('id', '=', photoId)
        .execute();
      return true;
    })
    .catch(async (err) => {
      if (thumb) await ctx.storage.removeObject({ bucket: thumb.bucket, object_key: thumb.objectKey }).catch(() => {});
      throw err;
    });
  if (!written && thumb) await ctx.storage.removeObject({ bucket: thumb.bucket, object_key: thumb.objectKey });
  if (written) await publishPhotoStatus(ctx, { user: photo.user_id, id: photoId, status: image ? 'analysing' : 'rejected' });
}

/** Prepares the upload, then queues its quality verdict (again on a retry: the job id makes that once). */
export const prepare: Handler<'photo.prepare'> = async (ctx, { photoId }) => {
  await preparePhoto(ctx, photoId);
  const photo = await ctx.db.selectFrom('photos').select('status').where('id', '=', photoId).executeTakeFirst();
  if (photo?.status === 'analysing') await ctx.queues.enqueue('photo.analyse', { photoId }, { jobId: jobId('analyse', photoId) });
};

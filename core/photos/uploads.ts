import type { AppContext } from '../platform/context';
import { newId } from '../platform/crypto';
import type { Photo } from '../platform/db';
import { DomainError } from '../platform/errors';
import { jobId } from '../platform/jobs';
import { ImageRejected } from './image-rejected';
import { checkUpload, MIME, type ImageType } from './images';
import { UPLOADED } from './lifecycle';

/** An upload as received: the file's bytes and sniffed type, and the form's other fields. */
export interface ReceivedUpload {
  data: Buffer;
  type: ImageType;
  subject?: string;
  parentalAuthority?: string;
}

/** An upload that passed the check at the door, ready to store. */
export interface CheckedPhoto {
  data: Buffer;
  type: ImageType;
  subject: 'self' | 'minor';
  width: number;
  height: number;
}

const REJECT_STATUS: Record<ImageRejected['code'], number> = {
  unsupported_type: 415,
  too_many_pixels: 413,
  corrupt_image: 422,
};

/** Refuses an upload from a person who holds as many photos as they may, before its bytes are read. */
export async function assertRoomForPhoto(ctx: AppContext, userId: string): Promise<void> {
  const count = await ctx.db
    .selectFrom('photos')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  if (Number(count.n) >= ctx.config.UPLOAD_MAX_FILES_PER_USER) {
    throw new DomainError(
      429,
      'too_many_photos',
      'Photo limit reached',
      `You can keep at most ${ctx.config.UPLOAD_MAX_FILES_PER_USER} photos; delete some first.`,
    );
  }
}

/** The check at the door: whose photo it is (PH4: a minor's needs an attestation) and an image that decodes within the pixel cap. */
export async function checkPhoto(ctx: AppContext, upload: ReceivedUpload): Promise<CheckedPhoto> {
  const subject = upload.subject ?? 'self';
  if (subject !== 'self' && subject !== 'minor')
    throw new DomainError(400, 'validation_failed', 'The request is not valid', 'subject must be "self" or "minor".');
  if (subject === 'minor' && upload.parentalAuthority !== 'true') {
    throw new DomainError(
      422,
      'parental_attestation_required',
      'Parental authority required',
      'A photo of a minor can only be uploaded by someone with parental authority who attests to it (parental_authority=true).',
    );
  }
  try {
    const image = await checkUpload(upload.data, upload.type, ctx.config.UPLOAD_MAX_PIXELS);
    return { data: upload.data, type: upload.type, subject, width: image.width, height: image.height };
  } catch (err) {
    if (err instanceof ImageRejected)
      throw new DomainError(REJECT_STATUS[err.code], err.code, 'Photo refused', err.message);
    throw err;
  }
}

/**
 * Stores a checked upload encrypted as sent, records it as preparing and queues its preparation,
 * which orients and strips it in place (preparation.ts). The object goes up first, with no
 * database connection held; then the blob and photo rows commit together in one short transaction.
 */
export async function storePhoto(ctx: AppContext, userId: string, upload: CheckedPhoto): Promise<Photo> {
  const now = ctx.clock.now();
  const stored = await ctx.storage.upload({
    userId,
    role: 'originals',
    contentType: MIME[upload.type],
    data: upload.data,
    at: now,
  });
  let photo: Photo | undefined;
  try {
    photo = await ctx.db.transaction().execute(async (trx) => {
      const blob = await ctx.storage.recordUploaded(trx, stored);
      return trx
        .insertInto('photos')
        .values({
          id: newId('pho'),
          user_id: userId,
          blob_id: blob.id,
          detected_type: upload.type,
          size_bytes: upload.data.length,
          width: upload.width,
          height: upload.height,
          uploaded_at: now,
          status: UPLOADED,
          verdict: null,
          processed_at: null,
          subject: upload.subject,
          parental_attestation_at: upload.subject === 'minor' ? now : null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    });
    await ctx.queues.enqueue('photo.prepare', { photoId: photo.id }, { jobId: jobId('prepare', photo.id) });
    return photo;
  } catch (err) {
    // Nothing half-written: no row, object or job without the others. Rows go before the
    // object; if they cannot (the database is down too), the object stays with them and the
    // stalled-work sweep queues the preparation later.
    const rowsGone =
      !photo ||
      (await removeRows(ctx, photo).then(
        () => true,
        () => false,
      ));
    if (rowsGone)
      await ctx.storage.removeObject({ bucket: stored.bucket, object_key: stored.objectKey }).catch(() => {});
    throw err;
  }
}

/** The rows of an upload whose job could not be queued. */
async function removeRows(ctx: AppContext, photo: Photo): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('photos').where('id', '=', photo.id).execute();
    await trx.deleteFrom('blobs').where('id', '=', photo.blob_id).execute();
  });
}

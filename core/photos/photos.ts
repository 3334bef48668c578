import type { AppContext } from '../platform/context';
import type { Blob, Photo, PhotoStatus } from '../platform/db';
import { DomainError, notFound } from '../platform/errors';
import { pageOf, type Page, type PageRequest } from '../platform/paging';
import { isPrepared } from './images';

/** A person's own photo; not_found for anyone else's. */
export async function ownedPhoto(ctx: AppContext, userId: string, id: string): Promise<Photo> {
  const photo = await ctx.db
    .selectFrom('photos')
    .selectAll()
    .where('id', '=', id)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  if (!photo) throw notFound('Photo');
  return photo;
}

/** One page of a person's photos, newest first. */
export async function photosPage(ctx: AppContext, userId: string, page: PageRequest): Promise<Page<Photo>> {
  let q = ctx.db
    .selectFrom('photos')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('id', 'desc')
    .limit(page.limit + 1);
  if (page.cursor) q = q.where('id', '<', page.cursor);
  return pageOf(await q.execute(), page.limit);
}

/** Every photo a person holds with its status, oldest first: the state an event stream starts from. */
export async function photoStatuses(ctx: AppContext, userId: string): Promise<{ id: string; status: PhotoStatus }[]> {
  return ctx.db.selectFrom('photos').select(['id', 'status']).where('user_id', '=', userId).orderBy('id').execute();
}

/**
 * The stored object of a person's photo, once prepared: before that the object still holds the
 * upload's metadata (photo_not_ready), and a photo that could not be decoded kept no bytes.
 */
export async function photoContent(ctx: AppContext, userId: string, id: string): Promise<Blob> {
  const photo = await ownedPhoto(ctx, userId, id);
  if (photo.status === 'preparing')
    throw new DomainError(
      409,
      'photo_not_ready',
      'Photo not ready',
      'The photo is still being prepared; try again in a few seconds.',
    );
  if (!isPrepared(photo))
    throw new DomainError(
      422,
      'corrupt_image',
      'Photo could not be decoded',
      'The photo could not be decoded at full size; its bytes were not kept. Upload it again or use another photo.',
    );
  return ctx.db.selectFrom('blobs').selectAll().where('id', '=', photo.blob_id).executeTakeFirstOrThrow();
}

/** The thumbnail object of a photo a signed link names; undefined once the photo or its thumbnail is gone. */
export async function thumbnailBlob(ctx: AppContext, userId: string, photoId: string): Promise<Blob | undefined> {
  const photo = await ctx.db
    .selectFrom('photos')
    .select('thumb_blob_id')
    .where('id', '=', photoId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return photo?.thumb_blob_id
    ? ctx.db.selectFrom('blobs').selectAll().where('id', '=', photo.thumb_blob_id).executeTakeFirst()
    : undefined;
}

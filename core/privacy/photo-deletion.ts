import type { AppContext } from '../platform/context';
import { DomainError } from '../platform/errors';
import { ownedPhoto } from '../photos/photos';
import { deletePhotos } from './deletion';

/** Deletes a person's photo now, at their request, unless an order is making headshots from it. */
export async function deleteOwnPhoto(ctx: AppContext, userId: string, id: string): Promise<void> {
  const photo = await ownedPhoto(ctx, userId, id);
  const busy = await ctx.db
    .selectFrom('order_photos')
    .innerJoin('orders', 'orders.id', 'order_photos.order_id')
    .select('orders.id')
    .where('order_photos.photo_id', '=', photo.id)
    .where('orders.status', 'in', ['received', 'processing'])
    .executeTakeFirst();
  if (busy)
    throw new DomainError(
      409,
      'photo_in_use',
      'Photo is being processed',
      'Wait until the order using it is ready, then delete it.',
    );
  await deletePhotos(ctx, [photo.id], 'owner_request');
}

import type { AppContext } from '../platform/context';
import { storedVerdict } from '../photos/lifecycle';
import { MIME } from '../photos/images';
import type { FaceGeometry } from '../photos/verdict';
import { findStyle, type Style } from './catalog';
import { afterRender, replaceFailed } from './orders';

/** What drawing one headshot gives back: the JPEG and the face-true check's finding. */
export interface Drawn {
  jpeg: Buffer;
  width: number;
  height: number;
  faceTrue: { ok: boolean; error: number; tolerance: number; worst: string };
}

/**
 * A photo as a render reads it: its render preparation when one is stored (core/photos/render-ready.ts),
 * and its original, read only if the preparation cannot be used.
 */
export interface StoredPhoto {
  prepared?: Buffer;
  original: () => Promise<Buffer>;
}

/** Draws a headshot from a stored photo (the worker's pixel threads). */
export type Draw = (photoId: string, stored: StoredPhoto, geometry: FaceGeometry, style: Style) => Promise<Drawn>;

/**
 * Renders one pending headshot from its photo's stored preparation (or original) and face geometry, and settles
 * the order once its last headshot is done. A face that moved is never delivered: made again from
 * the order's next photo, or refunded; so is a render that fails on its final attempt.
 */
export async function renderHeadshot(
  ctx: AppContext,
  headshotId: string,
  draw: Draw,
  finalAttempt: boolean,
): Promise<void> {
  const h = await ctx.db.selectFrom('headshots').selectAll().where('id', '=', headshotId).executeTakeFirst();
  if (!h || h.status !== 'pending') return;
  try {
    const photo = await ctx.db.selectFrom('photos').selectAll().where('id', '=', h.photo_id!).executeTakeFirstOrThrow();
    const blob = (id: string) => ctx.db.selectFrom('blobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const geometry = storedVerdict(photo)?.geometry;
    if (!geometry) throw new Error(`photo ${photo.id} has no face geometry`);
    // An organisation's order is made on its own backdrop, so the whole team's headshots match.
    const order = await ctx.db.selectFrom('orders').select('backdrop').where('id', '=', h.order_id).executeTakeFirst();
    const style = findStyle(h.style_id)!;
    const preparedId = photo.prepared_blob_id;
    const out = await draw(
      photo.id,
      {
        prepared: preparedId ? await ctx.storage.read(await blob(preparedId)) : undefined,
        original: async () => ctx.storage.read(await blob(photo.blob_id)),
      },
      geometry,
      order?.backdrop ? { ...style, backdrop: order.backdrop } : style,
    );
    if (!out.faceTrue.ok) {
      const replacement = await replaceFailed(ctx, headshotId, 'face_not_true');
      ctx.logger.warn(
        {
          headshotId,
          replacement,
          error: out.faceTrue.error,
          tolerance: out.faceTrue.tolerance,
          worst: out.faceTrue.worst,
        },
        'face-true check failed; headshot withheld',
      );
      await afterRender(ctx, h.order_id);
      return;
    }
    const stored = await ctx.storage.put(ctx.db, {
      userId: h.user_id,
      role: 'headshots',
      contentType: MIME.jpeg,
      data: out.jpeg,
      at: ctx.clock.now(),
    });
    const r = await ctx.db
      .updateTable('headshots')
      .set({
        status: 'rendered',
        blob_id: stored.id,
        width: out.width,
        height: out.height,
        rendered_at: ctx.clock.now(),
      })
      .where('id', '=', headshotId)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    // Lost a race with another attempt: drop our copy so no orphan object stays.
    if (!Number(r.numUpdatedRows)) await ctx.storage.remove(ctx.db, stored);
  } catch (err) {
    if (!finalAttempt) throw err;
    const replacement = await replaceFailed(ctx, headshotId, 'render_error');
    ctx.logger.error({ err, headshotId, replacement }, 'render failed on its last attempt');
  }
  await afterRender(ctx, h.order_id);
}

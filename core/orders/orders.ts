import { sql } from 'kysely';
import { findPackage } from './catalog';
import type { AppContext } from '../platform/context';
import { newId } from '../platform/crypto';
import type { OrderStatus } from '../platform/db';
import { jobId } from '../platform/jobs';
import { choosePhotos, type Choice } from './ranking';
import type { Verdict } from '../photos/verdict';

/**
 * The order state machine, driven by rows in Postgres so that a lost job or a flushed Redis
 * loses nothing: every step can be re-run and finds the same state.
 *   awaiting_payment -> received (paid) -> processing (rendering) -> ready (delivered) | failed
 * Photos are judged at upload and an order takes only usable ones, so a paid order goes straight
 * to rendering with the stored verdicts and face geometry.
 */


/** Payment confirmed: the order is received and its renders are queued. */
export async function startOrder(ctx: AppContext, orderId: string): Promise<void> {
  await ctx.queues.enqueue('order.notify', { orderId, status: 'received' }, { jobId: jobId('notify', orderId, 'received') });
  await renderOrder(ctx, orderId);
}

async function setStatus(ctx: AppContext, orderId: string, from: OrderStatus[], to: OrderStatus, extra: { failure_code?: string; failure_detail?: string } = {}): Promise<boolean> {
  const r = await ctx.db.updateTable('orders').set({ status: to, ...extra }).where('id', '=', orderId).where('status', 'in', from).executeTakeFirst();
  const changed = Number(r.numUpdatedRows) > 0;
  if (changed && to !== 'ready') await ctx.queues.enqueue('order.notify', { orderId, status: to as 'processing' | 'failed' }, { jobId: jobId('notify', orderId, to) });
  return changed;
}

/**
 * Chooses the best usable photos of a paid order and creates one headshot row per (style, photo),
 * then queues their renders. Idempotent: rows are unique per (order, photo, style), job ids fixed.
 */
export async function renderOrder(ctx: AppContext, orderId: string): Promise<void> {
  await setStatus(ctx, orderId, ['received'], 'processing');
  const order = await ctx.db.selectFrom('orders').selectAll().where('id', '=', orderId).executeTakeFirst();
  if (!order || order.status !== 'processing') return;
  const pkg = findPackage(order.package_id)!;
  const chosen = (await orderChoice(ctx, orderId, pkg.photosPerStyle)).filter((c) => c.chosen);
  if (!chosen.length) {
    // Only when the owner deleted the order's photos after ordering: every ordered photo was usable.
    await setStatus(ctx, orderId, ['processing'], 'failed', { failure_code: 'no_usable_photo', failure_detail: 'The photos of this order were deleted before it was processed.' });
    return;
  }
  const now = ctx.clock.now();
  const rows = order.styles.flatMap((styleId) => chosen.map((p) => ({ id: newId('hs'), order_id: orderId, user_id: order.user_id, photo_id: p.id, style_id: styleId, created_at: now, blob_id: null, width: null, height: null, failure_code: null, rendered_at: null, delivered_at: null })));
  await ctx.db.insertInto('headshots').values(rows).onConflict((oc) => oc.columns(['order_id', 'photo_id', 'style_id']).doNothing()).execute();
  const pending = await ctx.db.selectFrom('headshots').select('id').where('order_id', '=', orderId).where('status', '=', 'pending').execute();
  for (const h of pending) await ctx.queues.enqueue('headshot.render', { headshotId: h.id }, { jobId: jobId('render', h.id) });
}

/** The order's photos ranked, with the ones its headshots are (or will be) made from marked chosen. */
export async function orderChoice(ctx: AppContext, orderId: string, photosPerStyle: number): Promise<Choice[]> {
  const photos = await ctx.db
    .selectFrom('order_photos')
    .innerJoin('photos', 'photos.id', 'order_photos.photo_id')
    .select(['photos.id', 'photos.status', 'photos.verdict', 'order_photos.excluded'])
    .where('order_photos.order_id', '=', orderId)
    .execute();
  return choosePhotos(photos.map((p) => ({ id: p.id, verdict: p.status === 'usable' ? (p.verdict as Verdict) : null, excluded: p.excluded })), photosPerStyle);
}

/** After a render settles: when none is pending, deliver what rendered, or fail the order. */
export async function afterRender(ctx: AppContext, orderId: string): Promise<void> {
  const counts = await ctx.db
    .selectFrom('headshots')
    .select(['status', sql<number>`count(*)::int`.as('n')])
    .where('order_id', '=', orderId)
    .groupBy('status')
    .execute();
  const n = (s: string) => counts.find((c) => c.status === s)?.n ?? 0;
  if (n('pending') > 0) return;
  if (n('rendered') > 0) {
    await ctx.queues.enqueue('order.deliver', { orderId }, { jobId: jobId('deliver', orderId) });
  } else {
    await setStatus(ctx, orderId, ['processing'], 'failed', { failure_code: 'render_failed', failure_detail: 'No headshot could be produced that keeps your face true to the photo.' });
  }
}

/** Marks the order ready and its headshots delivered; the 90-day re-download window starts here. */
export async function markDelivered(ctx: AppContext, orderId: string): Promise<boolean> {
  const now = ctx.clock.now();
  return ctx.db.transaction().execute(async (trx) => {
    const r = await trx.updateTable('orders').set({ status: 'ready', delivered_at: now }).where('id', '=', orderId).where('status', '=', 'processing').executeTakeFirst();
    if (!Number(r.numUpdatedRows)) return false;
    await trx.updateTable('headshots').set({ delivered_at: now }).where('order_id', '=', orderId).where('status', '=', 'rendered').execute();
    return true;
  });
}

/**
 * Re-drives an order whose jobs were lost (Redis flushed, a worker gone): every step re-checks
 * the rows, and job ids are fixed, so running this on a healthy order changes nothing.
 */
export async function resumeOrder(ctx: AppContext, orderId: string): Promise<void> {
  const order = await ctx.db.selectFrom('orders').select(['status']).where('id', '=', orderId).executeTakeFirst();
  if (!order) return;
  if (order.status === 'received') return startOrder(ctx, orderId);
  if (order.status !== 'processing') return;
  await renderOrder(ctx, orderId);
  await afterRender(ctx, orderId);
}

import type { Job } from 'bullmq';
import { findStyle } from '../core/orders/catalog';
import { PIPELINE_QUEUE_NAMES } from '../core/platform/config';
import type { AppContext } from '../core/platform/context';
import { MIME } from '../core/photos/images';
import type { Handler, HandlersFor } from '../core/platform/workers';
import { sendEmailOnce } from '../core/notifications/email';
import { publishIfOptedIn } from '../core/privacy/portfolio';
import { sendWhatsAppOnce } from '../core/notifications/whatsapp';
import { afterRender, markDelivered, replaceFailed, sendRefund } from '../core/orders/orders';
import { orderOutcome, outcomeLines } from '../core/orders/outcome';
import { appLink } from '../core/notifications/links';
import { publishPhotoStatus } from '../core/photos/photo-events';
import type { Verdict } from '../core/photos/verdict';
import { privacyHandlers } from './privacy';
import { attemptDelivery } from '../core/teams/webhooks';
import { PixelPool } from './pixel-pool';
import { pixelSettings } from './pixel-work';
import { prepare, preparePhoto } from './prepare';
import type { FaceGeometry } from './render';

let pool: PixelPool | undefined;

/**
 * The process's pixel threads, started on first use (design practice 7: CPU work off the event
 * loop), and started afresh if one of them ended on its own (its jobs failed and are retried).
 */
function pixels(ctx: AppContext): PixelPool {
  if (pool?.broken) {
    ctx.logger.warn('a pixel pool thread ended; starting a new pool');
    void pool.close();
    pool = undefined;
  }
  pool ??= new PixelPool(ctx.config.PIXEL_THREADS, pixelSettings(ctx.config), ctx.config.LOG_LEVEL);
  return pool;
}

export async function closePixels(): Promise<void> {
  const p = pool;
  pool = undefined;
  await p?.close();
}

/** Is this the job's last attempt? Then a failure is final and the order must hear of it. */
const lastAttempt = (job: Job) => job.attemptsMade + 1 >= (job.opts.attempts ?? 1);

/**
 * The quality verdict of one prepared photo (SD1), made once, right after upload, so a person
 * learns whether a selfie is usable before paying. Orders take only usable photos and reuse the
 * stored verdict and face geometry: a photo is never analysed twice.
 */
const analyse: Handler<'photo.analyse'> = async (ctx, { photoId }) => {
  // Its preparation job was lost or has not run yet: prepare it here first.
  await preparePhoto(ctx, photoId);
  const photo = await ctx.db.selectFrom('photos').selectAll().where('id', '=', photoId).executeTakeFirst();
  if (!photo || photo.status !== 'analysing') return; // deleted meanwhile, or already judged
  const blob = await ctx.db.selectFrom('blobs').selectAll().where('id', '=', photo.blob_id).executeTakeFirstOrThrow();
  const { verdict, geometry } = await pixels(ctx).analyse(await ctx.storage.read(blob));
  const status = verdict.usable ? 'usable' : 'unusable';
  const r = await ctx.db
    .updateTable('photos')
    .set({ status, verdict: JSON.stringify({ ...verdict, geometry }), processed_at: ctx.clock.now() })
    .where('id', '=', photoId)
    .where('status', '=', 'analysing')
    .executeTakeFirst();
  if (Number(r.numUpdatedRows)) await publishPhotoStatus(ctx, { user: photo.user_id, id: photoId, status });
};

const render: Handler<'headshot.render'> = async (ctx, { headshotId }, job) => {
  const h = await ctx.db.selectFrom('headshots').selectAll().where('id', '=', headshotId).executeTakeFirst();
  if (!h || h.status !== 'pending') return;
  try {
    const photo = await ctx.db.selectFrom('photos').selectAll().where('id', '=', h.photo_id!).executeTakeFirstOrThrow();
    const blob = await ctx.db.selectFrom('blobs').selectAll().where('id', '=', photo.blob_id).executeTakeFirstOrThrow();
    const geometry = (photo.verdict as Verdict & { geometry: FaceGeometry }).geometry;
    // An organisation's order is made on its own backdrop, so the whole team's headshots match.
    const order = await ctx.db.selectFrom('orders').select('backdrop').where('id', '=', h.order_id).executeTakeFirst();
    const style = order?.backdrop ? { ...findStyle(h.style_id)!, backdrop: order.backdrop } : findStyle(h.style_id)!;
    const out = await pixels(ctx).render(photo.id, await ctx.storage.read(blob), geometry, style);
    if (!out.faceTrue.ok) {
      // Never deliver a face that moved: made again from the order's next photo, or refunded.
      const replacement = await replaceFailed(ctx, headshotId, 'face_not_true');
      ctx.logger.warn({ headshotId, replacement, error: out.faceTrue.error, tolerance: out.faceTrue.tolerance, worst: out.faceTrue.worst }, 'face-true check failed; headshot withheld');
      await afterRender(ctx, h.order_id);
      return;
    }
    const stored = await ctx.storage.put(ctx.db, { userId: h.user_id, role: 'headshots', contentType: MIME.jpeg, data: out.jpeg, at: ctx.clock.now() });
    const r = await ctx.db
      .updateTable('headshots')
      .set({ status: 'rendered', blob_id: stored.id, width: out.width, height: out.height, rendered_at: ctx.clock.now() })
      .where('id', '=', headshotId)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    // Lost a race with another attempt: drop our copy so no orphan object stays.
    if (!Number(r.numUpdatedRows)) await ctx.storage.remove(ctx.db, stored);
  } catch (err) {
    if (!lastAttempt(job)) throw err;
    const replacement = await replaceFailed(ctx, headshotId, 'render_error');
    ctx.logger.error({ err, headshotId, replacement }, 'render failed on its last attempt');
  }
  await afterRender(ctx, h.order_id);
};

const deliver: Handler<'order.deliver'> = async (ctx, { orderId }) => {
  await markDelivered(ctx, orderId);
  const order = await ctx.db.selectFrom('orders').selectAll().where('id', '=', orderId).executeTakeFirst();
  if (!order || order.status !== 'ready') return;
  const outcome = await orderOutcome(ctx, order);
  // A link to the order's gallery in the web client, which needs sign-in; never an attachment or a long-lived file URL (SD3).
  const link = appLink(ctx, 'order', { id: orderId });
  await sendEmailOnce(ctx, {
    userId: order.user_id,
    kind: 'order-ready',
    dedupeKey: `order-ready-${orderId}`,
    build: ({ name }) => ({
      subject: 'Your Rasmi headshots are ready',
      text: `Hello ${name},\n\n${outcomeLines(outcome).join('\n')}\n\nSee and download them (sign-in needed): ${link}\nThey stay available for ${ctx.config.RETENTION_HEADSHOTS_DAYS} days.\n\nRasmi`,
    }),
  });
  // Only with a phone on file and WhatsApp consent in force (SD4); no name leaves for Meta.
  await sendWhatsAppOnce(ctx, { userId: order.user_id, kind: 'order-ready', dedupeKey: `order-ready-${orderId}`, text: `Rasmi: ${outcomeLines(outcome)[0]} Sign in to download them: ${link}` });
  // Owners who opted in to the public portfolio get the new headshots published (CN4).
  await publishIfOptedIn(ctx, order.user_id);
};

const refund: Handler<'order.refund'> = async (ctx, { orderId }) => {
  await sendRefund(ctx, orderId);
};

const STATUS_TEXT = {
  received: ['We received your order', 'We received your payment and your order is queued.'],
  processing: ['We are working on your headshots', 'Your headshots are being made.'],
  ready: ['Your headshots are ready', 'Your headshots are ready.'],
  failed: ['We could not complete your order', 'We could not make headshots from your photos.'],
} as const;

const notify: Handler<'order.notify'> = async (ctx, { orderId, status }) => {
  const order = await ctx.db.selectFrom('orders').selectAll().where('id', '=', orderId).executeTakeFirst();
  if (!order) return;
  const [subject, line] = STATUS_TEXT[status];
  const link = appLink(ctx, 'order', { id: orderId });
  // A failed order says why and what was refunded (all of it: nothing was made).
  const more = status === 'failed' ? [order.failure_detail ?? '', ...outcomeLines(await orderOutcome(ctx, order)).slice(1)].filter(Boolean).join('\n') : '';
  await sendEmailOnce(ctx, {
    userId: order.user_id,
    kind: `order-${status}`,
    dedupeKey: `order-${status}-${orderId}`,
    build: ({ name }) => ({ subject, text: `Hello ${name},\n\n${line}${more ? `\n${more}` : ''}\nFollow your order (sign-in needed): ${link}\n\nRasmi` }),
  });
  await sendWhatsAppOnce(ctx, { userId: order.user_id, kind: `order-${status}`, dedupeKey: `order-${status}-${orderId}`, text: `Rasmi: ${line} Follow your order (sign-in needed): ${link}` });
};

export const PIPELINE_QUEUES = PIPELINE_QUEUE_NAMES;

export const pipelineHandlers: HandlersFor<(typeof PIPELINE_QUEUES)[number]> = {
  'photo.prepare': prepare,
  'photo.analyse': analyse,
  'headshot.render': render,
  'order.deliver': deliver,
  'order.refund': refund,
  'order.notify': notify,
  'team.webhook': async (ctx, { deliveryId }) => attemptDelivery(ctx, deliveryId),
  ...privacyHandlers,
};

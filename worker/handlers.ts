import type { Job } from 'bullmq';
import { deliverOrder, notifyOrderStatus } from '../core/orders/notices';
import { sendRefund } from '../core/orders/orders';
import { renderHeadshot } from '../core/orders/rendering';
import { markJudged } from '../core/photos/lifecycle';
import { preparePhoto } from '../core/photos/preparation';
import { attemptDelivery } from '../core/teams/webhooks';
import type { AppContext } from '../core/platform/context';
import type { PipelineQueue } from '../core/platform/queues';
import type { Handler, HandlersFor } from '../core/platform/workers';
import { PixelPool } from './pixel-pool';
import { pixelSettings } from './pixel-work';
import { prepare } from './prepare';
import { privacyHandlers } from './privacy';

let pool: PixelPool | undefined;

/**
 * The process's pixel threads, started on first use (CPU work off the event loop), and started
 * afresh if one of them ended on its own (its jobs failed and are retried).
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
  // Prepared here first if its preparation job was lost or has not run yet.
  const prepared = await preparePhoto(ctx, photoId);
  if (prepared?.photo.status !== 'analysing') return; // deleted meanwhile, rejected, or already judged
  const { verdict, geometry } = await pixels(ctx).analyse(await ctx.storage.read(prepared.blob));
  await markJudged(ctx, prepared.photo, verdict, geometry);
};

const render: Handler<'headshot.render'> = async (ctx, { headshotId }, job) => {
  await renderHeadshot(
    ctx,
    headshotId,
    (photoId, original, geometry, style) => pixels(ctx).render(photoId, original, geometry, style),
    lastAttempt(job),
  );
};

const deliver: Handler<'order.deliver'> = async (ctx, { orderId }) => deliverOrder(ctx, orderId);

const refund: Handler<'order.refund'> = async (ctx, { orderId }) => sendRefund(ctx, orderId);

const notify: Handler<'order.notify'> = async (ctx, { orderId, status }) => notifyOrderStatus(ctx, orderId, status);

export const pipelineHandlers: HandlersFor<PipelineQueue> = {
  'photo.prepare': prepare,
  'photo.analyse': analyse,
  'headshot.render': render,
  'order.deliver': deliver,
  'order.refund': refund,
  'order.notify': notify,
  'team.webhook': async (ctx, { deliveryId }) => attemptDelivery(ctx, deliveryId),
  ...privacyHandlers,
};

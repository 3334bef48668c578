import { DelayedError, type Job } from 'bullmq';
import { deliverOrder, notifyOrderStatus } from '../core/orders/notices';
import { sendRefund } from '../core/orders/orders';
import type { Style } from '../core/orders/catalog';
import { renderHeadshot, type StoredPhoto } from '../core/orders/rendering';
import { markJudged } from '../core/photos/lifecycle';
import { preparePhoto } from '../core/photos/preparation';
import {
  awaitsPreparation,
  makeRenderReady,
  PREPARATION_POLL_MS,
  PREPARATION_WAIT_MS,
  renderReadyJob,
} from '../core/photos/render-ready';
import type { FaceGeometry } from '../core/photos/verdict';
import { observeRenderPreparation } from '../core/platform/metrics';
import { attemptDelivery } from '../core/teams/webhooks';
import type { AppContext } from '../core/platform/context';
import type { PipelineQueue } from '../core/platform/queues';
import type { Handler, HandlersFor } from '../core/platform/workers';
import { PixelPool } from './pixel-pool';
import { pixelSettings } from './pixel-work';
import { prepare } from './prepare';
import { staleReason, UNREADABLE } from './prepared-form';
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
  // Its render preparation follows, after the verdict is out (a retry queues it once: the job id).
  if ((await markJudged(ctx, prepared.photo, verdict, geometry)) === 'usable')
    await ctx.queues.enqueue('photo.prepare-render', { photoId }, { jobId: renderReadyJob(photoId) });
};

/**
 * A usable photo's render preparation (core/photos/render-ready.ts), queued once its verdict is
 * out: upload-side work, so an order's first headshot does not pay for it.
 */
const prepareRender: Handler<'photo.prepare-render'> = async (ctx, { photoId }) => {
  const made = await makeRenderReady(ctx, photoId, async (original, geometry) => {
    const { bytes, timings } = await pixels(ctx).prepare(original, geometry);
    ctx.logger.debug({ photoId, bytes: bytes.byteLength, timings }, 'render preparation made');
    return bytes;
  });
  if (made) observeRenderPreparation('usable');
};

/**
 * A headshot from the photo's stored preparation, or, when there is none it can use (not made
 * yet, another version or headshot size, unreadable), from its original, prepared on the spot.
 */
async function draw(ctx: AppContext, photoId: string, stored: StoredPhoto, geometry: FaceGeometry, style: Style) {
  let reason = stored.prepared ? staleReason(stored.prepared, ctx.config.HEADSHOT_SIZE) : 'none stored';
  if (!reason) {
    try {
      return await pixels(ctx).render(photoId, { prepared: stored.prepared! }, geometry, style);
    } catch (err) {
      if (!(err as Error).message.startsWith(UNREADABLE)) throw err;
      reason = (err as Error).message;
    }
  }
  ctx.logger.debug({ photoId, reason }, 'render preparation not usable; rendering from the original');
  const out = await pixels(ctx).render(photoId, { original: await stored.original() }, geometry, style);
  if (out.preparedFrom === 'made') observeRenderPreparation('render');
  return out;
}

/**
 * A headshot whose photo's preparation is on its way comes back in PREPARATION_POLL_MS (moved to the
 * delayed set: the render slot goes to other orders meanwhile), for up to PREPARATION_WAIT_MS after
 * its order; then, or when none is coming, it renders, preparing on the spot if it must.
 */
const render: Handler<'headshot.render'> = async (ctx, { headshotId }, job, token) => {
  if (Date.now() - job.timestamp < PREPARATION_WAIT_MS && (await awaitsPreparation(ctx, headshotId))) {
    await job.moveToDelayed(Date.now() + PREPARATION_POLL_MS, token);
    throw new DelayedError();
  }
  await renderHeadshot(
    ctx,
    headshotId,
    (photoId, stored, geometry, style) => draw(ctx, photoId, stored, geometry, style),
    lastAttempt(job),
  );
};

const deliver: Handler<'order.deliver'> = async (ctx, { orderId }) => deliverOrder(ctx, orderId);

const refund: Handler<'order.refund'> = async (ctx, { orderId }) => sendRefund(ctx, orderId);

const notify: Handler<'order.notify'> = async (ctx, { orderId, status }) => notifyOrderStatus(ctx, orderId, status);

export const pipelineHandlers: HandlersFor<PipelineQueue> = {
  'photo.prepare': prepare,
  'photo.analyse': analyse,
  'photo.prepare-render': prepareRender,
  'headshot.render': render,
  'order.deliver': deliver,
  'order.refund': refund,
  'order.notify': notify,
  'team.webhook': async (ctx, { deliveryId }) => attemptDelivery(ctx, deliveryId),
  ...privacyHandlers,
};

import { findPackage } from './catalog';
import type { AppContext } from '../platform/context';
import { newId } from '../platform/crypto';
import { sql } from 'kysely';
import type { Db, Order, OrderStatus } from '../platform/db';
import { jobId } from '../platform/jobs';
import { headshotCounts } from './outcome';
import { refundFor } from './quote';
import { choosePhotos, type Choice } from './ranking';
import { storedVerdict } from '../photos/lifecycle';

/**
 * The order state machine, driven by rows in Postgres so that a lost job or a flushed Redis
 * loses nothing: every step can be re-run and finds the same state.
 *   awaiting_payment -> received (paid) -> processing (rendering) -> ready (delivered) | failed
 * Photos are judged at upload and an order takes only usable ones, so a paid order goes straight
 * to rendering with the stored verdicts and face geometry.
 */

/** Payment confirmed: the order is received and its renders are queued. */
export async function startOrder(ctx: AppContext, orderId: string): Promise<void> {
  await ctx.queues.enqueue(
    'order.notify',
    { orderId, status: 'received' },
    { jobId: jobId('notify', orderId, 'received') },
  );
  await renderOrder(ctx, orderId);
}

async function setStatus(
  ctx: AppContext,
  orderId: string,
  from: OrderStatus[],
  to: OrderStatus,
  extra: { failure_code?: string; failure_detail?: string } = {},
): Promise<boolean> {
  const r = await ctx.db
    .updateTable('orders')
    .set({ status: to, ...extra })
    .where('id', '=', orderId)
    .where('status', 'in', from)
    .executeTakeFirst();
  const changed = Number(r.numUpdatedRows) > 0;
  if (changed && to !== 'ready')
    await ctx.queues.enqueue(
      'order.notify',
      { orderId, status: to as 'processing' | 'failed' },
      { jobId: jobId('notify', orderId, to) },
    );
  return changed;
}

/**
 * Chooses the best usable photos of a paid order and creates one headshot row per (style, photo),
 * each with its position within the style, then queues their renders. Idempotent: rows are unique
 * per (order, photo, style), job ids fixed.
 */
export async function renderOrder(ctx: AppContext, orderId: string): Promise<void> {
  await setStatus(ctx, orderId, ['received'], 'processing');
  const order = await ctx.db.selectFrom('orders').selectAll().where('id', '=', orderId).executeTakeFirst();
  if (!order || order.status !== 'processing') return;
  const existing = await ctx.db.selectFrom('headshots').select('id').where('order_id', '=', orderId).limit(1).execute();
  if (!existing.length) {
    // As many photos a style as agreed before payment (fewer than the package names when it was short).
    const perStyle = order.headshots_expected
      ? order.headshots_expected / order.styles.length
      : findPackage(order.package_id)!.photosPerStyle;
    const chosen = (await rankedPhotos(ctx, orderId)).slice(0, perStyle);
    if (!chosen.length) {
      // Only when the owner deleted the order's photos after ordering: every ordered photo was usable.
      await settleFailed(
        ctx,
        orderId,
        'no_usable_photo',
        'The photos of this order were deleted before it was processed.',
      );
      return;
    }
    const now = ctx.clock.now();
    const rows = order.styles.flatMap((styleId) =>
      chosen.map((p, i) => ({
        id: newId('hs'),
        order_id: orderId,
        user_id: order.user_id,
        photo_id: p.id,
        style_id: styleId,
        position: i + 1,
        created_at: now,
        blob_id: null,
        width: null,
        height: null,
        failure_code: null,
        rendered_at: null,
        delivered_at: null,
      })),
    );
    await ctx.db
      .insertInto('headshots')
      .values(rows)
      .onConflict((oc) => oc.columns(['order_id', 'photo_id', 'style_id']).doNothing())
      .execute();
  }
  const pending = await ctx.db
    .selectFrom('headshots')
    .select('id')
    .where('order_id', '=', orderId)
    .where('status', '=', 'pending')
    // Photo by photo: a pixel thread keeps the last photo's render preparation for its other styles.
    .orderBy('photo_id')
    .orderBy('style_id')
    .execute();
  for (const h of pending)
    await ctx.queues.enqueue('headshot.render', { headshotId: h.id }, { jobId: jobId('render', h.id) });
}

/** The order's distinct usable photos it may draw on, best first (copies and left-out photos dropped). */
async function rankedPhotos(ctx: AppContext, orderId: string): Promise<Choice[]> {
  return (await rankOrderPhotos(ctx.db, orderId, Infinity)).filter((c) => c.chosen);
}

async function rankOrderPhotos(db: Db, orderId: string, photosPerStyle: number): Promise<Choice[]> {
  const photos = await db
    .selectFrom('order_photos')
    .innerJoin('photos', 'photos.id', 'order_photos.photo_id')
    .select(['photos.id', 'photos.status', 'photos.verdict', 'order_photos.excluded'])
    .where('order_photos.order_id', '=', orderId)
    .execute();
  return choosePhotos(
    photos.map((p) => ({ id: p.id, verdict: p.status === 'usable' ? storedVerdict(p) : null, excluded: p.excluded })),
    photosPerStyle,
  );
}

/** The order's photos ranked, with the ones its headshots are (or will be) made from marked chosen. */
export async function orderChoice(ctx: AppContext, orderId: string, photosPerStyle: number): Promise<Choice[]> {
  const ranked = await rankOrderPhotos(ctx.db, orderId, photosPerStyle);
  // Once rendering started, the photos in use are the ones with a headshot in place (a failed
  // render is made again from the next photo, which then is in use too).
  const used = await ctx.db
    .selectFrom('headshots')
    .select('photo_id')
    .distinct()
    .where('order_id', '=', orderId)
    .where('replaced_by', 'is', null)
    .execute();
  if (!used.length) return ranked;
  const inUse = new Set(used.map((u) => u.photo_id));
  return ranked.map((c) => ({ ...c, chosen: inUse.has(c.id) }));
}

/**
 * A render that failed for good (face-true check, model error after its retries) is made again
 * from the order's next-ranked photo not yet used for that style. Under the order's row lock, so two
 * failures of one style never pick the same photo. Returns the new headshot's id, or undefined
 * when no photo is left: the headshot is then missing, and refunded when the order settles.
 */
export async function replaceFailed(
  ctx: AppContext,
  headshotId: string,
  failureCode: 'face_not_true' | 'render_error',
): Promise<string | undefined> {
  const replacement = await ctx.db.transaction().execute(async (trx) => {
    const h = await trx.selectFrom('headshots').selectAll().where('id', '=', headshotId).executeTakeFirst();
    if (!h) return undefined;
    await trx.selectFrom('orders').select('id').where('id', '=', h.order_id).forUpdate().executeTakeFirst();
    const failed = await trx
      .updateTable('headshots')
      .set({ status: 'failed', failure_code: failureCode })
      .where('id', '=', headshotId)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    if (!Number(failed.numUpdatedRows)) return undefined;
    const tried = await trx
      .selectFrom('headshots')
      .select('photo_id')
      .where('order_id', '=', h.order_id)
      .where('style_id', '=', h.style_id)
      .execute();
    const triedIds = new Set(tried.map((t) => t.photo_id));
    const next = (await rankOrderPhotos(trx, h.order_id, Infinity)).find((c) => c.chosen && !triedIds.has(c.id));
    if (!next) return undefined;
    const id = newId('hs');
    await trx
      .insertInto('headshots')
      .values({
        id,
        order_id: h.order_id,
        user_id: h.user_id,
        photo_id: next.id,
        style_id: h.style_id,
        position: h.position,
        created_at: ctx.clock.now(),
        blob_id: null,
        width: null,
        height: null,
        failure_code: null,
        rendered_at: null,
        delivered_at: null,
      })
      .execute();
    await trx.updateTable('headshots').set({ replaced_by: id }).where('id', '=', headshotId).execute();
    return id;
  });
  if (replacement)
    await ctx.queues.enqueue('headshot.render', { headshotId: replacement }, { jobId: jobId('render', replacement) });
  return replacement;
}

/**
 * After a render settles: when none is pending, deliver what rendered (a refund recorded first for
 * any headshot missing, so the email can say so), or, with nothing rendered, fail the order and
 * refund all of it.
 */
export async function afterRender(ctx: AppContext, orderId: string): Promise<void> {
  const n = await headshotCounts(ctx, orderId);
  if (n.pending > 0) return;
  if (n.rendered > 0) {
    await recordRefund(ctx, orderId);
    await ctx.queues.enqueue('order.deliver', { orderId }, { jobId: jobId('deliver', orderId) });
  } else {
    await settleFailed(
      ctx,
      orderId,
      'render_failed',
      'No headshot could be made that keeps your face true to your photos.',
    );
  }
}

async function settleFailed(ctx: AppContext, orderId: string, code: string, detail: string): Promise<void> {
  await recordRefund(ctx, orderId);
  await setStatus(ctx, orderId, ['processing'], 'failed', { failure_code: code, failure_detail: detail });
}

/**
 * Records the refund of what an order could not make, once (one refund an order: its order_id is
 * unique), and queues the processor's part under a fixed job id: retries and restarts refund once.
 */
export async function recordRefund(ctx: AppContext, orderId: string): Promise<void> {
  const order = await ctx.db.selectFrom('orders').selectAll().where('id', '=', orderId).executeTakeFirst();
  if (!order) return;
  const n = await headshotCounts(ctx, orderId);
  const expected = order.headshots_expected ?? n.rendered + n.failed;
  const missing = Math.max(0, expected - n.rendered);
  if (!missing) return;
  const payment = await ctx.db
    .selectFrom('payments')
    .select(['id', 'currency'])
    .where('order_id', '=', orderId)
    .where('status', '=', 'succeeded')
    .executeTakeFirst();
  if (!payment) return returnToOrganisation(ctx, order, expected, missing, n.rendered);
  await ctx.db
    .insertInto('refunds')
    .values({
      id: newId('ref'),
      order_id: orderId,
      payment_id: payment.id,
      amount_cents: refundFor(order.amount_cents, expected, missing),
      currency: payment.currency,
      headshots_missing: missing,
      status: 'pending',
      processor_ref: null,
      created_at: ctx.clock.now(),
      succeeded_at: null,
    })
    .onConflict((oc) => oc.column('order_id').doNothing())
    .execute();
  await ctx.queues.enqueue('order.refund', { orderId }, { jobId: jobId('refund', orderId) });
}

/**
 * An order paid with an organisation's seat has no payment of its own: what it could not make goes
 * back to the organisation, once. Nothing made returns the seat itself (and any credit already
 * given for an agreed shortfall, which the seat now covers); otherwise a credit of the missing
 * headshots' share of the seat's price.
 */
async function returnToOrganisation(
  ctx: AppContext,
  order: Order,
  expected: number,
  missing: number,
  rendered: number,
): Promise<void> {
  const draw = await ctx.db
    .selectFrom('seat_draws')
    .select(['id', 'organisation_id', 'kind'])
    .where('order_id', '=', order.id)
    .executeTakeFirst();
  if (!draw || draw.kind !== 'seat') return;
  await ctx.db.transaction().execute(async (trx) => {
    if (rendered === 0) {
      const r = await trx
        .updateTable('seat_draws')
        .set({ returned_at: ctx.clock.now() })
        .where('id', '=', draw.id)
        .where('returned_at', 'is', null)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows)) await trx.deleteFrom('seat_credits').where('order_id', '=', order.id).execute();
      return;
    }
    await trx
      .insertInto('seat_credits')
      .values({
        id: newId('scr'),
        organisation_id: draw.organisation_id,
        order_id: order.id,
        reason: 'missing_headshots',
        amount_cents: refundFor(order.amount_cents, expected, missing),
        currency: order.currency,
        headshots: missing,
        created_at: ctx.clock.now(),
      })
      .onConflict((oc) => oc.columns(['order_id', 'reason']).doNothing())
      .execute();
  });
}

/** Asks the processor for an order's recorded refund; the refund's id is its idempotency key there. */
export async function sendRefund(ctx: AppContext, orderId: string): Promise<void> {
  const refund = await ctx.db
    .selectFrom('refunds')
    .innerJoin('payments', 'payments.id', 'refunds.payment_id')
    .select(['refunds.id', 'refunds.status', 'refunds.amount_cents', 'refunds.currency', 'payments.processor_ref'])
    .where('refunds.order_id', '=', orderId)
    .executeTakeFirst();
  if (!refund || refund.status === 'succeeded') return;
  const { processorRef } = await ctx.payments.refund({
    refundId: refund.id,
    paymentRef: refund.processor_ref,
    amountCents: refund.amount_cents,
    currency: refund.currency,
  });
  await ctx.db
    .updateTable('refunds')
    .set({ status: 'succeeded', processor_ref: processorRef, succeeded_at: ctx.clock.now() })
    .where('id', '=', refund.id)
    .where('status', '=', 'pending')
    .execute();
}

/** Marks the order ready and its headshots delivered; the 90-day re-download window starts here. */
export async function markDelivered(ctx: AppContext, orderId: string): Promise<boolean> {
  const now = ctx.clock.now();
  return ctx.db.transaction().execute(async (trx) => {
    const r = await trx
      .updateTable('orders')
      .set({ status: 'ready', delivered_at: now })
      .where('id', '=', orderId)
      .where('status', '=', 'processing')
      .executeTakeFirst();
    if (!Number(r.numUpdatedRows)) return false;
    await trx
      .updateTable('headshots')
      .set({ delivered_at: now })
      .where('order_id', '=', orderId)
      .where('status', '=', 'rendered')
      .execute();
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

/** Re-drives up to limit paid orders unfinished since before cutoff (the stalled-work sweep); returns how many. */
export async function resumeStalledOrders(ctx: AppContext, cutoff: Date, limit: number): Promise<number> {
  const stalled = await ctx.db
    .selectFrom('orders')
    .select('id')
    .where('status', 'in', ['received', 'processing'])
    .where(sql<boolean>`coalesce(paid_at, created_at) < ${cutoff}`)
    .orderBy('paid_at')
    .limit(limit)
    .execute();
  for (const o of stalled) await resumeOrder(ctx, o.id);
  return stalled.length;
}

/**
 * Refunds recorded before cutoff but not yet confirmed by the processor (its outage outlasted the
 * job's attempts): their job is driven again, up to limit; returns how many.
 */
export async function redriveStalledRefunds(ctx: AppContext, cutoff: Date, limit: number): Promise<number> {
  const refunds = await ctx.db
    .selectFrom('refunds')
    .select('order_id')
    .where('status', '=', 'pending')
    .where('created_at', '<', cutoff)
    .where('order_id', 'is not', null)
    .orderBy('created_at')
    .limit(limit)
    .execute();
  for (const r of refunds)
    await ctx.queues.redrive('order.refund', { orderId: r.order_id! }, jobId('refund', r.order_id!));
  return refunds.length;
}

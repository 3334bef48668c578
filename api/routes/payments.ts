import express, { type Router } from 'express';

import { startOrder } from '../../core/orders/orders';
import { seatPaymentSucceeded } from '../../core/teams/seats';
import { verifyWebhook, WebhookRejected } from '../../core/platform/payment-processor';
import { ctxOf } from '../auth';
import { registry, z } from '../openapi';
import { HttpError, ProblemSchema } from '../problem';
import { HEADERS_TOO_LARGE } from '../route';

/**
 * The processor's signed webhook (PY3). Verified over the raw bytes; an event id is acted on once,
 * so a replay changes nothing; amounts must match the order. Card data never arrives here (PY1).
 */
export function paymentRoutes(router: Router): void {
  registry.registerPath({
    method: 'post',
    path: '/v1/payments/webhook',
    operationId: 'receivePaymentWebhook',
    summary: 'Payment processor webhook (Stripe-compatible signature)',
    tags: ['Payments'],
    security: [{ webhookSignature: [] }],
    request: { body: { content: { 'application/json': { schema: z.object({ id: z.string(), type: z.string(), data: z.object({}).passthrough() }) } } } },
    responses: {
      200: { description: 'Accepted (also for a replay, which changes nothing)', content: { 'application/json': { schema: z.object({ received: z.boolean(), duplicate: z.boolean() }) } } },
      400: { description: 'webhook_signature_invalid, webhook_timestamp_stale, webhook_payload_invalid, bad_request', content: { 'application/problem+json': { schema: ProblemSchema } } },
      404: { description: 'payment_unknown: not (yet) known here; the processor retries', content: { 'application/problem+json': { schema: ProblemSchema } } },
      413: { description: 'body_too_large', content: { 'application/problem+json': { schema: ProblemSchema } } },
      431: HEADERS_TOO_LARGE,
    },
  });

  router.post('/v1/payments/webhook', express.raw({ type: '*/*', limit: '256kb' }), async (req, res, next) => {
    try {
      const ctx = ctxOf(req);
      const now = ctx.clock.now();
      let event;
      try {
        event = verifyWebhook(req.body as Buffer, req.header('stripe-signature'), ctx.config.PAYMENT_WEBHOOK_SECRET, ctx.config.PAYMENT_WEBHOOK_TOLERANCE_SECONDS, now);
      } catch (err) {
        if (err instanceof WebhookRejected) throw new HttpError(400, err.code, 'Webhook refused', err.message);
        throw err;
      }
      const paidOrder = await ctx.db.transaction().execute(async (trx) => {
        const fresh = await trx.insertInto('webhook_events').values({ id: event.id, type: event.type, received_at: now }).onConflict((oc) => oc.column('id').doNothing()).returning('id').executeTakeFirst();
        if (!fresh) return 'duplicate' as const;
        if (event.type !== 'payment_intent.succeeded') return null;
        const intent = event.data.object;
        const payment = await trx.selectFrom('payments').selectAll().where('processor_ref', '=', intent.id).forUpdate().executeTakeFirst();
        // Unknown to us (yet): answer 404 and roll back, so the processor retries later.
        if (!payment) throw new HttpError(404, 'payment_unknown', 'Unknown payment', 'No payment with that reference.');
        if (payment.amount_cents !== intent.amount || payment.currency.toLowerCase() !== intent.currency) {
          req.log?.error({ paymentId: payment.id }, 'webhook amount does not match the payment; ignored');
          return null;
        }
        if (payment.status === 'succeeded') return null;
        await trx.updateTable('payments').set({ status: 'succeeded', succeeded_at: now }).where('id', '=', payment.id).execute();
        // A payment for an organisation's seats: they count from now.
        if (!payment.order_id) await seatPaymentSucceeded(trx, payment.id, now);
        const r = await trx.updateTable('orders').set({ status: 'received', paid_at: now }).where('id', '=', payment.order_id!).where('status', '=', 'awaiting_payment').executeTakeFirst();
        return Number(r.numUpdatedRows) ? payment.order_id : null;
      });
      if (paidOrder && paidOrder !== 'duplicate') await startOrder(ctx, paidOrder);
      res.json({ received: true, duplicate: paidOrder === 'duplicate' });
    } catch (err) {
      next(err);
    }
  });
}


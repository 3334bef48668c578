import type { AppContext } from '../platform/context';
import { DomainError } from '../platform/errors';
import { verifyWebhook, WebhookRejected } from '../platform/payment-processor';
import { seatPaymentSucceeded } from '../teams/seats';
import { startOrder } from './orders';

/**
 * The processor's signed webhook (PY3), verified over the raw bytes. An event id is acted on once,
 * so a replay changes nothing; a payment is taken only when its amount and currency match; a paid
 * order starts. Answers whether the event was a replay.
 */
export async function receivePaymentEvent(
  ctx: AppContext,
  raw: Buffer,
  signature: string | undefined,
): Promise<{ duplicate: boolean }> {
  const now = ctx.clock.now();
  let event;
  try {
    event = verifyWebhook(
      raw,
      signature,
      ctx.config.PAYMENT_WEBHOOK_SECRET,
      ctx.config.PAYMENT_WEBHOOK_TOLERANCE_SECONDS,
      now,
    );
  } catch (err) {
    if (err instanceof WebhookRejected) throw new DomainError(400, err.code, 'Webhook refused', err.message);
    throw err;
  }
  const paidOrder = await ctx.db.transaction().execute(async (trx) => {
    const fresh = await trx
      .insertInto('webhook_events')
      .values({ id: event.id, type: event.type, received_at: now })
      .onConflict((oc) => oc.column('id').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!fresh) return 'duplicate' as const;
    if (event.type !== 'payment_intent.succeeded') return null;
    const intent = event.data.object;
    const payment = await trx
      .selectFrom('payments')
      .selectAll()
      .where('processor_ref', '=', intent.id)
      .forUpdate()
      .executeTakeFirst();
    // Unknown to us (yet): answer 404 and roll back, so the processor retries later.
    if (!payment) throw new DomainError(404, 'payment_unknown', 'Unknown payment', 'No payment with that reference.');
    if (payment.amount_cents !== intent.amount || payment.currency.toLowerCase() !== intent.currency) {
      ctx.logger.error({ paymentId: payment.id }, 'webhook amount does not match the payment; ignored');
      return null;
    }
    if (payment.status === 'succeeded') return null;
    await trx
      .updateTable('payments')
      .set({ status: 'succeeded', succeeded_at: now })
      .where('id', '=', payment.id)
      .execute();
    // A payment for an organisation's seats: they count from now.
    if (!payment.order_id) await seatPaymentSucceeded(trx, payment.id, now);
    const r = await trx
      .updateTable('orders')
      .set({ status: 'received', paid_at: now })
      .where('id', '=', payment.order_id!)
      .where('status', '=', 'awaiting_payment')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) ? payment.order_id : null;
  });
  if (paidOrder && paidOrder !== 'duplicate') await startOrder(ctx, paidOrder);
  return { duplicate: paidOrder === 'duplicate' };
}

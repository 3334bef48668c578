import { appLink } from '../notifications/links';
import { sendEmailOnce } from '../notifications/email';
import { sendWhatsAppOnce } from '../notifications/whatsapp';
import type { AppContext } from '../platform/context';
import { publishIfOptedIn } from '../privacy/portfolio';
import { markDelivered } from './orders';
import { orderOutcome, outcomeLines } from './outcome';

/**
 * Delivers a ready order: marked delivered, its owner told by email (and WhatsApp with consent,
 * SD4), and the new headshots published for owners who opted in to the portfolio (CN4).
 */
export async function deliverOrder(ctx: AppContext, orderId: string): Promise<void> {
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
  await sendWhatsAppOnce(ctx, {
    userId: order.user_id,
    kind: 'order-ready',
    dedupeKey: `order-ready-${orderId}`,
    text: `Rasmi: ${outcomeLines(outcome)[0]} Sign in to download them: ${link}`,
  });
  await publishIfOptedIn(ctx, order.user_id);
}

const STATUS_TEXT = {
  received: ['We received your order', 'We received your payment and your order is queued.'],
  processing: ['We are working on your headshots', 'Your headshots are being made.'],
  ready: ['Your headshots are ready', 'Your headshots are ready.'],
  failed: ['We could not complete your order', 'We could not make headshots from your photos.'],
} as const;

/** Tells an order's owner of its status, once per status; a failed order says why and what was refunded. */
export async function notifyOrderStatus(
  ctx: AppContext,
  orderId: string,
  status: keyof typeof STATUS_TEXT,
): Promise<void> {
  const order = await ctx.db.selectFrom('orders').selectAll().where('id', '=', orderId).executeTakeFirst();
  if (!order) return;
  const [subject, line] = STATUS_TEXT[status];
  const link = appLink(ctx, 'order', { id: orderId });
  const more =
    status === 'failed'
      ? [order.failure_detail ?? '', ...outcomeLines(await orderOutcome(ctx, order)).slice(1)]
          .filter(Boolean)
          .join('\n')
      : '';
  await sendEmailOnce(ctx, {
    userId: order.user_id,
    kind: `order-${status}`,
    dedupeKey: `order-${status}-${orderId}`,
    build: ({ name }) => ({
      subject,
      text: `Hello ${name},\n\n${line}${more ? `\n${more}` : ''}\nFollow your order (sign-in needed): ${link}\n\nRasmi`,
    }),
  });
  await sendWhatsAppOnce(ctx, {
    userId: order.user_id,
    kind: `order-${status}`,
    dedupeKey: `order-${status}-${orderId}`,
    text: `Rasmi: ${line} Follow your order (sign-in needed): ${link}`,
  });
}

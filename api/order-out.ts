import type { AppContext } from '../core/platform/context';
import type { Headshot, Order } from '../core/platform/records';
import { orderDetails } from '../core/orders/ordering';
import type { z } from './openapi';
import { photoOut } from './photo-out';
import { iso, type HeadshotOut, type OrderOut } from './schemas';

function headshotOut(h: Headshot): z.infer<typeof HeadshotOut> {
  return {
    id: h.id,
    style_id: h.style_id,
    photo_id: h.photo_id,
    status: h.status,
    width: h.width,
    height: h.height,
    failure_code: h.failure_code,
    position: h.position,
    content_url: h.status === 'rendered' ? `/v1/headshots/${h.id}/content` : null,
  };
}

/** An order as the API shows it, to its owner and to audited staff reads. */
export async function orderOut(ctx: AppContext, o: Order): Promise<z.infer<typeof OrderOut>> {
  const { photos, headshots, selection, outcome, shortfall } = await orderDetails(ctx, o);
  return {
    id: o.id,
    status: o.status,
    package_id: o.package_id,
    style_ids: o.styles,
    amount_cents: o.amount_cents,
    currency: o.currency,
    failure: o.failure_code ? { code: o.failure_code, detail: o.failure_detail } : null,
    created_at: iso(o.created_at)!,
    paid_at: iso(o.paid_at),
    delivered_at: iso(o.delivered_at),
    photos: photos.map((p) => photoOut(ctx, p)),
    selection: selection.map(({ id, ...c }) => ({ photo_id: id, ...c })),
    headshots_expected: o.headshots_expected,
    headshots_delivered: outcome.delivered,
    shortfall,
    missing: outcome.missing,
    refund: outcome.refund && { ...outcome.refund, created_at: iso(outcome.refund.created_at)! },
    headshots: headshots.map(headshotOut),
  };
}

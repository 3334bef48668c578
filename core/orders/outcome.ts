import { sql } from 'kysely';
import type { AppContext } from '../platform/context';
import type { Order } from '../platform/db';
import { findStyle } from './catalog';

/**
 * What an order delivered against what was agreed: the same figures for the API, the web client
 * and the emails, so no place says "2 of 2" where one was made.
 */
export interface MissingHeadshot {
  style_id: string;
  /** 1-based place within its style. */
  position: number | null;
  code: string;
  reason: string;
}

export interface OrderRefund {
  amount_cents: number;
  currency: string;
  headshots: number;
  status: 'pending' | 'succeeded';
  created_at: Date;
}

export interface Outcome {
  expected: number;
  delivered: number;
  pending: number;
  missing: MissingHeadshot[];
  refund: OrderRefund | null;
}

/** Why a headshot is missing, in words a person understands. */
export const MISSING_REASONS: Record<string, string> = {
  face_not_true:
    'Each photo we tried for it came out with your face changed slightly, and we never deliver a changed face.',
  render_error: 'Making it failed on each photo we tried, after several attempts.',
};

export async function orderOutcome(ctx: AppContext, order: Pick<Order, 'id' | 'headshots_expected'>): Promise<Outcome> {
  const rows = await ctx.db
    .selectFrom('headshots')
    .select(['style_id', 'position', 'status', 'failure_code'])
    .where('order_id', '=', order.id)
    .where('replaced_by', 'is', null)
    .orderBy('style_id')
    .orderBy('position')
    .execute();
  const refund = await ctx.db
    .selectFrom('refunds')
    .select(['amount_cents', 'currency', 'headshots_missing', 'status', 'created_at'])
    .where('order_id', '=', order.id)
    .executeTakeFirst();
  const count = (s: string) => rows.filter((r) => r.status === s).length;
  const delivered = count('rendered');
  return {
    expected: order.headshots_expected ?? rows.length,
    delivered,
    pending: count('pending'),
    missing: rows
      .filter((r) => r.status === 'failed')
      .map((r) => ({
        style_id: r.style_id,
        position: r.position,
        code: r.failure_code ?? 'render_error',
        reason: MISSING_REASONS[r.failure_code ?? 'render_error'] ?? MISSING_REASONS.render_error,
      })),
    refund: refund
      ? {
          amount_cents: refund.amount_cents,
          currency: refund.currency,
          headshots: refund.headshots_missing,
          status: refund.status,
          created_at: refund.created_at,
        }
      : null,
  };
}

export const money = (cents: number, currency: string) =>
  new Intl.NumberFormat('en', { style: 'currency', currency }).format(cents / 100);

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The lines of an email (or message) that say what was made, what is missing and why, and the refund. */
export function outcomeLines(o: Outcome): string[] {
  const lines = [
    o.delivered === o.expected
      ? o.expected === 1
        ? 'Your headshot is ready.'
        : `All ${o.expected} headshots of your order are ready.`
      : `${o.delivered} of the ${plural(o.expected, 'headshot')} in your order ${o.delivered === 1 ? 'is' : 'are'} ready.`,
  ];
  if (o.missing.length) {
    lines.push('', `${plural(o.missing.length, 'headshot')} could not be made:`);
    for (const m of o.missing)
      lines.push(
        `- ${findStyle(m.style_id)?.name ?? m.style_id}${m.position ? `, headshot ${m.position}` : ''}: ${m.reason}`,
      );
  }
  if (o.refund)
    lines.push(
      `We refunded ${money(o.refund.amount_cents, o.refund.currency)} for ${o.refund.headshots === o.expected ? 'the whole order' : plural(o.refund.headshots, 'missing headshot')} to the card you paid with; banks take 5 to 10 days to show it.`,
    );
  return lines;
}

/** Counts of an order's headshots in place (a failed render made again from another photo counts once). */
export async function headshotCounts(
  ctx: AppContext,
  orderId: string,
): Promise<Record<'pending' | 'rendered' | 'failed', number>> {
  const counts = await ctx.db
    .selectFrom('headshots')
    .select(['status', sql<number>`count(*)::int`.as('n')])
    .where('order_id', '=', orderId)
    .where('replaced_by', 'is', null)
    .groupBy('status')
    .execute();
  const n = (s: string) => counts.find((c) => c.status === s)?.n ?? 0;
  return { pending: n('pending'), rendered: n('rendered'), failed: n('failed') };
}

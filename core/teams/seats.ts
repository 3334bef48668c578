import { sql } from 'kysely';
import { PACKAGES } from '../orders/catalog';
import { checkPackage } from '../orders/ordering';
import type { AppContext } from '../platform/context';
import { newId } from '../platform/crypto';
import { inTransaction, type Db } from '../platform/db';
import { DomainError } from '../platform/errors';
import { requireAdmin } from './access';

/**
 * Seats: one seat is one member's order of one package, bought by the organisation through the
 * payment processor (a payments row, kept as a transaction record like any other). A member's
 * order draws a seat instead of paying. What an order could not make goes back to the
 * organisation: a credit of its share of the seat's price, or the seat itself when it made nothing
 * (core/orders/orders.ts, recordRefund).
 */
export interface SeatSummary {
  packages: { package_id: string; purchased: number; used: number; available: number; pending: number }[];
  credit_cents: number;
  currency: string;
}

export async function seatSummary(ctx: Pick<AppContext, 'db'>, organisationId: string): Promise<SeatSummary> {
  const bought = await ctx.db
    .selectFrom('seat_purchases')
    .select(['package_id', 'status', sql<number>`sum(seats)::int`.as('n')])
    .where('organisation_id', '=', organisationId)
    .groupBy(['package_id', 'status'])
    .execute();
  const drawn = await ctx.db
    .selectFrom('seat_draws')
    .select(['package_id', sql<number>`count(*)::int`.as('n')])
    .where('organisation_id', '=', organisationId)
    .where('kind', '=', 'seat')
    .where('returned_at', 'is', null)
    .groupBy('package_id')
    .execute();
  const credit = await creditLeft(ctx.db, organisationId, 'EUR');
  return {
    packages: PACKAGES.map((p) => {
      const purchased = bought.find((b) => b.package_id === p.id && b.status === 'paid')?.n ?? 0;
      const used = drawn.find((d) => d.package_id === p.id)?.n ?? 0;
      return {
        package_id: p.id,
        purchased,
        used,
        available: purchased - used,
        pending: bought.find((b) => b.package_id === p.id && b.status === 'pending')?.n ?? 0,
      };
    }),
    credit_cents: credit,
    currency: 'EUR',
  };
}

/**
 * The organisation's credit not yet spent, in one currency: what its seat orders could not make,
 * less what seat purchases took off their price (a purchase awaiting its payment holds its part).
 */
export async function creditLeft(db: Db, organisationId: string, currency: string): Promise<number> {
  const credited = await db
    .selectFrom('seat_credits')
    .select(sql<number>`coalesce(sum(amount_cents), 0)::int`.as('n'))
    .where('organisation_id', '=', organisationId)
    .where('currency', '=', currency)
    .executeTakeFirstOrThrow();
  const spent = await db
    .selectFrom('seat_purchases')
    .select(sql<number>`coalesce(sum(credit_cents), 0)::int`.as('n'))
    .where('organisation_id', '=', organisationId)
    .where('currency', '=', currency)
    .executeTakeFirstOrThrow();
  return credited.n - spent.n;
}

/** Seats available for a package, under the organisation's row lock held by the caller's transaction. */
export async function availableSeats(trx: Db, organisationId: string, packageId: string): Promise<number> {
  const bought = await trx
    .selectFrom('seat_purchases')
    .select(sql<number>`coalesce(sum(seats), 0)::int`.as('n'))
    .where('organisation_id', '=', organisationId)
    .where('package_id', '=', packageId)
    .where('status', '=', 'paid')
    .executeTakeFirstOrThrow();
  const drawn = await trx
    .selectFrom('seat_draws')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('organisation_id', '=', organisationId)
    .where('package_id', '=', packageId)
    .where('kind', '=', 'seat')
    .where('returned_at', 'is', null)
    .executeTakeFirstOrThrow();
  return bought.n - drawn.n;
}

/** What a seat purchase answers: a payment to make, or none when the credit paid for it all. */
export interface SeatPurchase {
  purchase_id: string;
  /** Left to pay after the credit. */
  amount_cents: number;
  /** The organisation's credit taken off the price. */
  credit_cents: number;
  currency: string;
  status: 'pending' | 'paid';
  payment: { processor: string; client_secret: string } | null;
}

/** The payments row of a purchase the organisation's credit paid for entirely: a record, no processor. */
const CREDIT_PROCESSOR = 'credit';

/**
 * Buys seats. The organisation's credit is taken off the price first (under its row lock, so two
 * purchases at once never spend the same credit); what is left is asked of the payment processor,
 * and those seats count once it confirms (its signed webhook). Seats the credit pays for entirely
 * count at once.
 */
export async function buySeats(
  ctx: AppContext,
  userId: string,
  organisationId: string,
  input: { package_id: string; seats: number },
): Promise<SeatPurchase> {
  await requireAdmin(ctx, organisationId, userId);
  const pkg = checkPackage(input.package_id);
  const now = ctx.clock.now();
  const purchaseId = newId('spu');
  const paymentId = newId('pay');
  const price = pkg.priceCents * input.seats;
  const credit = await inTransaction(ctx.db, async (trx) => {
    await trx.selectFrom('organisations').select('id').where('id', '=', organisationId).forUpdate().execute();
    const taken = Math.max(0, Math.min(price, await creditLeft(trx, organisationId, pkg.currency)));
    const settled = taken === price;
    await trx
      .insertInto('payments')
      .values({
        id: paymentId,
        order_id: null,
        user_id: userId,
        processor: settled ? CREDIT_PROCESSOR : ctx.payments.name,
        processor_ref: paymentId,
        amount_cents: price - taken,
        currency: pkg.currency,
        status: settled ? 'succeeded' : 'pending',
        created_at: now,
        succeeded_at: settled ? now : null,
      })
      .execute();
    await trx
      .insertInto('seat_purchases')
      .values({
        id: purchaseId,
        organisation_id: organisationId,
        package_id: pkg.id,
        seats: input.seats,
        amount_cents: price - taken,
        credit_cents: taken,
        currency: pkg.currency,
        payment_id: paymentId,
        status: settled ? 'paid' : 'pending',
        created_at: now,
        paid_at: settled ? now : null,
      })
      .execute();
    return taken;
  });
  const amount = price - credit;
  const answer = { purchase_id: purchaseId, amount_cents: amount, credit_cents: credit, currency: pkg.currency };
  if (!amount) return { ...answer, status: 'paid', payment: null };
  let intent;
  try {
    intent = await ctx.payments.createPayment({
      paymentId,
      orderId: purchaseId,
      amountCents: amount,
      currency: pkg.currency,
    });
  } catch (err) {
    // Withdrawn whole: the credit it took is the organisation's again.
    ctx.logger.warn({ err, purchaseId }, 'payment processor failed; seat purchase withdrawn');
    await ctx.db.deleteFrom('seat_purchases').where('id', '=', purchaseId).execute();
    await ctx.db.deleteFrom('payments').where('id', '=', paymentId).execute();
    throw new DomainError(
      502,
      'payment_processor_unavailable',
      'Payment processor unavailable',
      'Nothing was charged and no credit was used; try again shortly.',
    );
  }
  await ctx.db
    .updateTable('payments')
    .set({ processor_ref: intent.processorRef })
    .where('id', '=', paymentId)
    .execute();
  return {
    ...answer,
    status: 'pending',
    payment: { processor: ctx.payments.name, client_secret: intent.clientSecret },
  };
}

/** The processor confirmed a payment: if it bought seats, they count from now (in the webhook's transaction). */
export async function seatPaymentSucceeded(trx: Db, paymentId: string, at: Date): Promise<boolean> {
  const r = await trx
    .updateTable('seat_purchases')
    .set({ status: 'paid', paid_at: at })
    .where('payment_id', '=', paymentId)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function seatPurchases(ctx: AppContext, userId: string, organisationId: string) {
  await requireAdmin(ctx, organisationId, userId);
  const purchases = await ctx.db
    .selectFrom('seat_purchases')
    .select([
      'id',
      'package_id',
      'seats',
      'amount_cents',
      'credit_cents',
      'currency',
      'status',
      'created_at',
      'paid_at',
    ])
    .where('organisation_id', '=', organisationId)
    .orderBy('created_at', 'desc')
    .execute();
  return { summary: await seatSummary(ctx, organisationId), purchases };
}

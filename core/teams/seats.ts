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
  const credit = await ctx.db
    .selectFrom('seat_credits')
    .select(sql<number>`coalesce(sum(amount_cents), 0)::int`.as('n'))
    .where('organisation_id', '=', organisationId)
    .executeTakeFirstOrThrow();
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
    credit_cents: credit.n,
    currency: 'EUR',
  };
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

/** Buys seats: the processor is asked for the payment, and the seats count once it confirms (its signed webhook). */
export async function buySeats(
  ctx: AppContext,
  userId: string,
  organisationId: string,
  input: { package_id: string; seats: number },
): Promise<{
  purchase_id: string;
  amount_cents: number;
  currency: string;
  payment: { processor: string; client_secret: string };
}> {
  await requireAdmin(ctx, organisationId, userId);
  const pkg = checkPackage(input.package_id);
  const now = ctx.clock.now();
  const purchaseId = newId('spu');
  const paymentId = newId('pay');
  const amount = pkg.priceCents * input.seats;
  await inTransaction(ctx.db, async (trx) => {
    await trx
      .insertInto('payments')
      .values({
        id: paymentId,
        order_id: null,
        user_id: userId,
        processor: ctx.payments.name,
        processor_ref: paymentId,
        amount_cents: amount,
        currency: pkg.currency,
        status: 'pending',
        created_at: now,
        succeeded_at: null,
      })
      .execute();
    await trx
      .insertInto('seat_purchases')
      .values({
        id: purchaseId,
        organisation_id: organisationId,
        package_id: pkg.id,
        seats: input.seats,
        amount_cents: amount,
        currency: pkg.currency,
        payment_id: paymentId,
        status: 'pending',
        created_at: now,
      })
      .execute();
  });
  let intent;
  try {
    intent = await ctx.payments.createPayment({
      paymentId,
      orderId: purchaseId,
      amountCents: amount,
      currency: pkg.currency,
    });
  } catch (err) {
    ctx.logger.warn({ err, purchaseId }, 'payment processor failed; seat purchase withdrawn');
    await ctx.db.deleteFrom('seat_purchases').where('id', '=', purchaseId).execute();
    await ctx.db.deleteFrom('payments').where('id', '=', paymentId).execute();
    throw new DomainError(
      502,
      'payment_processor_unavailable',
      'Payment processor unavailable',
      'Nothing was charged; try again shortly.',
    );
  }
  await ctx.db
    .updateTable('payments')
    .set({ processor_ref: intent.processorRef })
    .where('id', '=', paymentId)
    .execute();
  return {
    purchase_id: purchaseId,
    amount_cents: amount,
    currency: pkg.currency,
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
    .select(['id', 'package_id', 'seats', 'amount_cents', 'currency', 'status', 'created_at', 'paid_at'])
    .where('organisation_id', '=', organisationId)
    .orderBy('created_at', 'desc')
    .execute();
  return { summary: await seatSummary(ctx, organisationId), purchases };
}

import { checkPackageAndStyles, usableChoicePhotos } from '../orders/ordering';
import { startOrder } from '../orders/orders';
import { quote } from '../orders/quote';
import type { AppContext } from '../platform/context';
import { newId } from '../platform/crypto';
import { inTransaction, type User } from '../platform/db';
import { DomainError } from '../platform/errors';
import { pendingMaterialVersion } from '../privacy/policy';
import { requireMember } from './access';
import { availableSeats } from './seats';

/**
 * A member's order paid with one of the organisation's seats: the choice is checked as any order's
 * is, within the organisation's brand (its styles; its backdrop is recorded on the order, so the
 * whole team's headshots match), then one seat is drawn under the organisation's row lock and the
 * order starts once committed (beginSeatOrder), with no payment of the member's.
 */
export interface SeatOrderInput {
  package_id: string;
  style_ids: string[];
  photo_ids: string[];
  accept_shortfall?: boolean;
}

const noSeat = (pkg: string) =>
  new DomainError(
    409,
    'no_seat_left',
    'No seat left',
    `Your organisation has no ${pkg} seat left; ask its admins to buy more.`,
  );

export async function createSeatOrder(
  ctx: AppContext,
  user: User,
  organisationId: string,
  input: SeatOrderInput,
): Promise<{ order_id: string; seats_left: number }> {
  await requireMember(ctx, organisationId, user.id);
  const pending = await pendingMaterialVersion(ctx, user);
  if (pending)
    throw new DomainError(
      409,
      'policy_acceptance_required',
      'The privacy policy changed',
      `Our privacy policy changed materially (version ${pending.id}). Accept it with POST /v1/me/policy-acceptance to place new orders.`,
      { policy_version: pending.id },
    );
  const org = await ctx.db
    .selectFrom('organisations')
    .select(['allowed_styles', 'backdrop'])
    .where('id', '=', organisationId)
    .executeTakeFirstOrThrow();
  const { pkg, styles } = checkPackageAndStyles(input.package_id, input.style_ids, org.allowed_styles);
  if ((await availableSeats(ctx.db, organisationId, pkg.id)) < 1) throw noSeat(pkg.name);
  const photoIds = [...new Set(input.photo_ids)];
  const q = quote(pkg, styles.length, await usableChoicePhotos(ctx, user.id, photoIds));
  if (q.shortfall && !input.accept_shortfall) {
    throw new DomainError(
      422,
      'shortfall_not_accepted',
      'Fewer headshots than the package names',
      `${q.shortfall.message} ${q.shortfall.hint} To order ${q.headshots_expected}, send accept_shortfall: true; the seat's unused part is credited to your organisation.`,
      { quote: q },
    );
  }
  const now = ctx.clock.now();
  const orderId = newId('ord');
  const left = await inTransaction(ctx.db, async (trx) => {
    await trx
      .selectFrom('organisations')
      .select('id')
      .where('id', '=', organisationId)
      .forUpdate()
      .executeTakeFirstOrThrow();
    const seats = await availableSeats(trx, organisationId, pkg.id);
    if (seats < 1) throw noSeat(pkg.name);
    await trx
      .insertInto('orders')
      .values({
        id: orderId,
        user_id: user.id,
        package_id: pkg.id,
        styles: JSON.stringify(styles),
        status: 'received',
        amount_cents: q.amount_cents,
        currency: pkg.currency,
        headshots_expected: q.headshots_expected,
        failure_code: null,
        failure_detail: null,
        created_at: now,
        paid_at: now,
        delivered_at: null,
        backdrop: org.backdrop ? JSON.stringify(org.backdrop) : null,
      })
      .execute();
    await trx
      .insertInto('order_photos')
      .values(photoIds.map((photo_id) => ({ order_id: orderId, photo_id })))
      .execute();
    await trx
      .insertInto('seat_draws')
      .values({
        id: newId('sdr'),
        organisation_id: organisationId,
        order_id: orderId,
        user_id: user.id,
        package_id: pkg.id,
        kind: 'seat',
        drawn_at: now,
      })
      .execute();
    // A short order agreed to make less than the seat paid for: the difference goes back at once.
    if (q.amount_cents < pkg.priceCents) {
      await trx
        .insertInto('seat_credits')
        .values({
          id: newId('scr'),
          organisation_id: organisationId,
          order_id: orderId,
          reason: 'shortfall',
          amount_cents: pkg.priceCents - q.amount_cents,
          currency: pkg.currency,
          headshots: q.headshots_promised - q.headshots_expected,
          created_at: now,
        })
        .execute();
    }
    return seats - 1;
  });
  return { order_id: orderId, seats_left: left };
}

/** Once the seat order is committed: its renders are queued (idempotent: fixed job ids). */
export async function beginSeatOrder(ctx: AppContext, orderId: string): Promise<void> {
  await startOrder(ctx, orderId);
}

import type { AppContext } from '../platform/context';
import { newId } from '../platform/crypto';
import { inTransaction, type Headshot, type Order, type Photo } from '../platform/db';
import { DomainError, notFound } from '../platform/errors';
import { pageOf, type Page, type PageRequest } from '../platform/paging';
import { storedVerdict } from '../photos/lifecycle';
import { reasonsOf } from '../photos/verdict';
import { findPackage, findStyle, PACKAGES, type Package } from './catalog';
import { orderChoice } from './orders';
import { money, orderOutcome, type Outcome } from './outcome';
import { quote, type Quote, type Shortfall } from './quote';
import { choosePhotos, type Choice } from './ranking';

/** What a person chooses to order: a package, styles, and their photos. */
export interface OrderChoice {
  packageId: string;
  styleIds: string[];
  photoIds: string[];
}

/** A choice checked and quoted. */
export interface QuotedChoice {
  pkg: Package;
  styles: string[];
  photoIds: string[];
  quote: Quote;
}

/** A package of the catalogue, by id; unknown_package otherwise. */
export function checkPackage(packageId: string): Package {
  const pkg = findPackage(packageId);
  if (!pkg)
    throw new DomainError(
      422,
      'unknown_package',
      'Unknown package',
      `Choose one of: ${PACKAGES.map((p) => p.id).join(', ')}.`,
    );
  return pkg;
}

/**
 * A package and styles checked against the catalogue and, for an organisation's member, against
 * the styles its brand allows (allowedStyles; null or absent allows all). One check for every
 * kind of order, so each answers the same error for the same choice.
 */
export function checkPackageAndStyles(
  packageId: string,
  styleIds: string[],
  allowedStyles?: readonly string[] | null,
): { pkg: Package; styles: string[] } {
  const pkg = checkPackage(packageId);
  const styles = [...new Set(styleIds)];
  const unknown = styles.filter((s) => !findStyle(s));
  if (unknown.length)
    throw new DomainError(422, 'unknown_style', 'Unknown style', `Unknown style ids: ${unknown.join(', ')}.`);
  if (allowedStyles && styles.some((s) => !allowedStyles.includes(s)))
    throw new DomainError(
      422,
      'style_not_allowed',
      'Style not in the brand',
      `Your organisation allows these styles: ${allowedStyles.join(', ')}.`,
      { allowed_styles: allowedStyles },
    );
  if (styles.length > pkg.maxStyles)
    throw new DomainError(
      422,
      'too_many_styles',
      'Too many styles',
      pkg.maxStyles === 1
        ? `The ${pkg.name} package includes 1 style: choose one.`
        : `The ${pkg.name} package includes up to ${pkg.maxStyles} styles: choose ${pkg.maxStyles} or fewer.`,
    );
  return { pkg, styles };
}

/**
 * The photos of a choice, each the person's (not_found otherwise) and usable: how many distinct
 * shots they are (copies count once). Any still being checked or not usable refuses the choice,
 * each photo with its status and reasons: a person's order and a seat order alike.
 */
export async function usableChoicePhotos(ctx: AppContext, userId: string, photoIds: string[]): Promise<number> {
  const owned = await ctx.db
    .selectFrom('photos')
    .select(['id', 'status', 'verdict'])
    .where('user_id', '=', userId)
    .where('id', 'in', photoIds)
    .execute();
  if (owned.length !== photoIds.length) throw notFound('Photo');
  const notReady = owned.filter((p) => p.status === 'preparing' || p.status === 'analysing');
  if (notReady.length)
    throw new DomainError(
      422,
      'photo_not_ready',
      'Photo still being checked',
      'Some photos are still being checked; order once each one shows usable (seconds after upload).',
      { photos: notReady.map((p) => ({ id: p.id, status: p.status, reasons: [] })) },
    );
  const unusable = owned.filter((p) => p.status !== 'usable');
  if (unusable.length)
    throw new DomainError(
      422,
      'photo_unusable',
      'Photo not usable',
      'Some photos cannot make a headshot; each one says why and what to do. Leave them out or upload better ones.',
      { photos: unusable.map((p) => ({ id: p.id, status: p.status, reasons: reasonsOf(storedVerdict(p)) })) },
    );
  const distinct = choosePhotos(
    owned.map((p) => ({ id: p.id, verdict: storedVerdict(p), excluded: false })),
    Infinity,
  ).filter((c) => c.chosen).length;
  return distinct;
}

/**
 * Checks a choice of package, styles and photos, and quotes it: how many headshots it makes and at
 * what price. Every photo is judged at upload, so an order takes only usable ones and no order
 * ever fails for a reason that was known before payment.
 */
export async function quoteChoice(ctx: AppContext, userId: string, choice: OrderChoice): Promise<QuotedChoice> {
  const { pkg, styles } = checkPackageAndStyles(choice.packageId, choice.styleIds);
  const photoIds = [...new Set(choice.photoIds)];
  const distinct = await usableChoicePhotos(ctx, userId, photoIds);
  return { pkg, styles, photoIds, quote: quote(pkg, styles.length, distinct) };
}

/** An order placed, and what the client confirms its payment with. */
export interface PlacedOrder {
  order: Order;
  clientSecret: string;
}

/**
 * Records the order, its photos and its pending payment at the quoted price, and asks the
 * processor for it. A shortfall must have been accepted; a processor that fails withdraws the order.
 */
export async function createOrder(
  ctx: AppContext,
  userId: string,
  choice: OrderChoice & { acceptShortfall?: boolean },
): Promise<PlacedOrder> {
  const { pkg, styles, photoIds, quote } = await quoteChoice(ctx, userId, choice);
  if (quote.shortfall && !choice.acceptShortfall) {
    throw new DomainError(
      422,
      'shortfall_not_accepted',
      'Fewer headshots than the package names',
      `${quote.shortfall.message} ${quote.shortfall.hint} To order ${quote.headshots_expected} for ${money(quote.amount_cents, quote.currency)}, send accept_shortfall: true.`,
      { quote },
    );
  }
  const now = ctx.clock.now();
  const orderId = newId('ord');
  const paymentId = newId('pay');
  await inTransaction(ctx.db, async (trx) => {
    await trx
      .insertInto('orders')
      .values({
        id: orderId,
        user_id: userId,
        package_id: pkg.id,
        styles: JSON.stringify(styles),
        status: 'awaiting_payment',
        amount_cents: quote.amount_cents,
        currency: pkg.currency,
        headshots_expected: quote.headshots_expected,
        failure_code: null,
        failure_detail: null,
        created_at: now,
        paid_at: null,
        delivered_at: null,
      })
      .execute();
    await trx
      .insertInto('order_photos')
      .values(photoIds.map((photo_id) => ({ order_id: orderId, photo_id })))
      .execute();
    await trx
      .insertInto('payments')
      .values({
        id: paymentId,
        order_id: orderId,
        user_id: userId,
        processor: ctx.payments.name,
        processor_ref: paymentId,
        amount_cents: quote.amount_cents,
        currency: pkg.currency,
        status: 'pending',
        created_at: now,
        succeeded_at: null,
      })
      .execute();
  });
  let intent;
  try {
    intent = await ctx.payments.createPayment({
      paymentId,
      orderId,
      amountCents: quote.amount_cents,
      currency: pkg.currency,
    });
  } catch (err) {
    ctx.logger.warn({ err, orderId }, 'payment processor failed; order withdrawn');
    await ctx.db.deleteFrom('orders').where('id', '=', orderId).execute();
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
  const order = await ctx.db.selectFrom('orders').selectAll().where('id', '=', orderId).executeTakeFirstOrThrow();
  return { order, clientSecret: intent.clientSecret };
}

/**
 * The choice of a new order of other styles from an earlier order's photos (SD5): only photos
 * still held can be used; once retention removed them, originals_expired says so plainly.
 */
export async function reprocessChoice(
  ctx: AppContext,
  userId: string,
  earlierId: string,
  change: { styleIds: string[]; packageId?: string },
): Promise<OrderChoice> {
  const earlier = await ownedOrder(ctx, userId, earlierId);
  const photos = await ctx.db
    .selectFrom('order_photos')
    .innerJoin('photos', 'photos.id', 'order_photos.photo_id')
    .select('photos.id')
    .where('order_photos.order_id', '=', earlier.id)
    .where('photos.status', '=', 'usable')
    .execute();
  if (!photos.length) {
    throw new DomainError(
      410,
      'originals_expired',
      'Originals no longer held',
      `Original photos are kept for ${ctx.config.RETENTION_ORIGINALS_DAYS} days after processing; upload new photos to order again.`,
    );
  }
  return {
    packageId: change.packageId ?? earlier.package_id,
    styleIds: change.styleIds,
    photoIds: photos.map((p) => p.id),
  };
}

/** A person's own order; not_found for anyone else's. */
export async function ownedOrder(ctx: AppContext, userId: string, id: string): Promise<Order> {
  const o = await ctx.db
    .selectFrom('orders')
    .selectAll()
    .where('id', '=', id)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  if (!o) throw notFound('Order');
  return o;
}

/** One page of a person's orders, newest first (for the owner, and for audited staff reads). */
export async function ordersPage(ctx: AppContext, userId: string, page: PageRequest): Promise<Page<Order>> {
  let q = ctx.db
    .selectFrom('orders')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('id', 'desc')
    .limit(page.limit + 1);
  if (page.cursor) q = q.where('id', '<', page.cursor);
  return pageOf(await q.execute(), page.limit);
}

/** Leaves a photo out of an unpaid order (or takes it back in), as long as the order still makes what was agreed. */
export async function setPhotoExcluded(
  ctx: AppContext,
  userId: string,
  orderId: string,
  photoId: string,
  excluded: boolean,
): Promise<Order> {
  const order = await ownedOrder(ctx, userId, orderId);
  await ctx.db.transaction().execute(async (trx) => {
    // Under the order's row lock: a payment confirmed meanwhile sees the choice before or after, never half.
    const locked = await trx
      .selectFrom('orders')
      .select('status')
      .where('id', '=', order.id)
      .forUpdate()
      .executeTakeFirstOrThrow();
    if (locked.status !== 'awaiting_payment')
      throw new DomainError(
        409,
        'order_already_paid',
        'Order already paid',
        'Photos can only be left out before paying, and this order is already paid.',
      );
    const r = await trx
      .updateTable('order_photos')
      .set({ excluded })
      .where('order_id', '=', order.id)
      .where('photo_id', '=', photoId)
      .executeTakeFirst();
    if (!Number(r.numUpdatedRows)) throw notFound('Photo');
    const left = await trx
      .selectFrom('order_photos')
      .select('photo_id')
      .where('order_id', '=', order.id)
      .where('excluded', '=', false)
      .execute();
    if (!left.length)
      throw new DomainError(422, 'no_photo_left', 'No photo left', 'Keep at least one photo in the order.');
    // The count was agreed with the price: leaving out a photo the order needs would make fewer.
    const distinct = (await orderChoice({ ...ctx, db: trx }, order.id, Infinity)).filter((c) => c.chosen).length;
    const pkg = findPackage(order.package_id)!;
    const makes = Math.min(distinct, pkg.photosPerStyle) * order.styles.length;
    if (order.headshots_expected !== null && makes < order.headshots_expected) {
      throw new DomainError(
        422,
        'fewer_headshots',
        'The order needs this photo',
        `Without this photo the order would make ${makes} headshots instead of the ${order.headshots_expected} agreed. Keep it, or upload another photo and order again.`,
      );
    }
  });
  return order;
}

/** An order with everything shown beside it: its photos, its headshots in place, the selection and the outcome. */
export interface OrderDetails {
  order: Order;
  photos: Photo[];
  headshots: Headshot[];
  selection: Choice[];
  outcome: Outcome;
  shortfall: Shortfall | null;
}

export async function orderDetails(ctx: AppContext, order: Order): Promise<OrderDetails> {
  const photos = await ctx.db
    .selectFrom('order_photos')
    .innerJoin('photos', 'photos.id', 'order_photos.photo_id')
    .selectAll('photos')
    .where('order_photos.order_id', '=', order.id)
    .orderBy('photos.id')
    .execute();
  const headshots = await ctx.db
    .selectFrom('headshots')
    .selectAll()
    .where('order_id', '=', order.id)
    .where('replaced_by', 'is', null)
    .orderBy('style_id')
    .orderBy('position')
    .orderBy('id')
    .execute();
  const outcome = await orderOutcome(ctx, order);
  const selection = await orderChoice(ctx, order.id, findPackage(order.package_id)?.photosPerStyle ?? 1);
  return { order, photos, headshots, selection, outcome, shortfall: agreedShortfall(order) };
}

/** The shortfall an order agreed to, from what it records (the headshots it makes a style against the package's). */
function agreedShortfall(o: Order): Shortfall | null {
  const pkg = findPackage(o.package_id);
  if (!pkg || o.headshots_expected === null || !o.styles.length) return null;
  return quote(pkg, o.styles.length, o.headshots_expected / o.styles.length).shortfall;
}

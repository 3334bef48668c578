import type { Response, Router } from 'express';
import sharp from 'sharp';
import { ASPECTS, findPackage, findStyle, PACKAGES, squareCrop, STYLES, type Package } from '../../core/orders/catalog';
import { money, orderOutcome } from '../../core/orders/outcome';
import { quote, type Quote } from '../../core/orders/quote';
import { choosePhotos } from '../../core/orders/ranking';
import { reasonsOf, type Verdict } from '../../core/photos/verdict';
import { storedVerdict } from '../../core/photos/lifecycle';
import { stylePreview } from '../../core/orders/backdrops';
import type { AppContext } from '../../core/platform/context';
import { DAY_MS } from '../../core/platform/config';
import { newId, signToken, verifyToken } from '../../core/platform/crypto';
import { orderChoice } from '../../core/orders/orders';
import { inTransaction, type Headshot, type Order, type User } from '../../core/platform/db';
import { ctxOf } from '../auth';
import { idempotent } from '../idempotency';
import { z } from '../openapi';
import { HttpError, notFound } from '../problem';
import { route } from '../route';
import { Cursor, HeadshotOut, IdParam, idOf, iso, OrderOut, page, pageOf, Quote as QuoteOut, Slug, TokenParam } from '../schemas';
import { photoOut } from '../photo-out';
import { streamBlob } from '../stream-blob';
import { requireAcceptedPolicy } from './policy';

const OrderChoice = z.object({
  package_id: z.string().openapi({ example: 'professional' }),
  style_ids: z.array(z.string()).min(1).max(10).openapi({ example: ['studio-grey', 'navy-gradient'] }),
  photo_ids: z.array(idOf('pho', 'photo')).min(1).max(20),
});
const QuoteRequest = OrderChoice.openapi('QuoteRequest');
const CreateOrder = OrderChoice.extend({
  accept_shortfall: z.boolean().optional().openapi({ description: 'Required (true) when the quote has a shortfall: the person agreed to fewer headshots than the package names, at the lower price' }),
}).openapi('CreateOrder');

const OrderId = IdParam('ord', 'order');
const HeadshotId = IdParam('hs', 'headshot');

const Reprocess = z.object({ style_ids: z.array(z.string()).min(1).max(10), package_id: z.string().optional(), accept_shortfall: z.boolean().optional() }).openapi('Reprocess');

const CreatedOrder = z
  .object({ order: OrderOut, payment: z.object({ processor: z.string(), client_secret: z.string() }) })
  .openapi('CreatedOrder');

const PackageOut = z.object({ id: z.string(), name: z.string(), max_styles: z.number().int(), photos_per_style: z.number().int(), price_cents: z.number().int(), currency: z.string() }).openapi('Package');
const StyleOut = z.object({ id: z.string(), name: z.string(), description: z.string(), preview_url: z.string() }).openapi('Style');
const Link = z.object({ url: z.string(), expires_at: z.string().datetime() }).openapi('DownloadLink');

function headshotOut(h: Headshot): z.infer<typeof HeadshotOut> {
  return { id: h.id, style_id: h.style_id, photo_id: h.photo_id, status: h.status, width: h.width, height: h.height, failure_code: h.failure_code, position: h.position, content_url: h.status === 'rendered' ? `/v1/headshots/${h.id}/content` : null };
}

/**
 * Checks a choice of package, styles and photos, and quotes it: how many headshots it makes and at
 * what price. Every photo is judged at upload, so an order takes only usable ones and no order
 * ever fails for a reason that was known before payment.
 */
async function quoteChoice(ctx: AppContext, user: User, body: z.infer<typeof OrderChoice>): Promise<{ pkg: Package; styles: string[]; photoIds: string[]; quote: Quote }> {
  const pkg = findPackage(body.package_id);
  if (!pkg) throw new HttpError(422, 'unknown_package', 'Unknown package', `Choose one of: ${PACKAGES.map((p) => p.id).join(', ')}.`);
  const styles = [...new Set(body.style_ids)];
  const unknown = styles.filter((s) => !findStyle(s));
  if (unknown.length) throw new HttpError(422, 'unknown_style', 'Unknown style', `Unknown style ids: ${unknown.join(', ')}.`);
  if (styles.length > pkg.maxStyles) throw new HttpError(422, 'too_many_styles', 'Too many styles', `The ${pkg.name} package includes up to ${pkg.maxStyles} style(s).`);
  const photoIds = [...new Set(body.photo_ids)];
  const owned = await ctx.db.selectFrom('photos').select(['id', 'status', 'verdict']).where('user_id', '=', user.id).where('id', 'in', photoIds).execute();
  if (owned.length !== photoIds.length) throw notFound('Photo');
  const notReady = owned.filter((p) => p.status === 'preparing' || p.status === 'analysing');
  if (notReady.length) {
    throw new HttpError(422, 'photo_not_ready', 'Photo still being checked', 'Some photos are still being checked; order once each one shows usable (seconds after upload).', { photos: notReady.map((p) => ({ id: p.id, status: p.status, reasons: [] })) });
  }
  const unusable = owned.filter((p) => p.status !== 'usable');
  if (unusable.length) {
    throw new HttpError(422, 'photo_unusable', 'Photo not usable', 'Some photos cannot make a headshot; each one says why and what to do. Leave them out or upload better ones.', {
      photos: unusable.map((p) => ({ id: p.id, status: p.status, reasons: reasonsOf(storedVerdict(p)) })),
    });
  }
  const distinct = choosePhotos(owned.map((p) => ({ id: p.id, verdict: p.verdict as Verdict, excluded: false })), Infinity).filter((c) => c.chosen).length;
  return { pkg, styles, photoIds, quote: quote(pkg, styles.length, distinct) };
}

/** Records the order, its photos and its pending payment at the quoted price, and asks the processor for it. */
async function createOrder(ctx: AppContext, user: User, body: z.infer<typeof CreateOrder>): Promise<{ status: number; body: unknown }> {
  const { pkg, styles, photoIds, quote } = await quoteChoice(ctx, user, body);
  if (quote.shortfall && !body.accept_shortfall) {
    throw new HttpError(422, 'shortfall_not_accepted', 'Fewer headshots than the package names', `${quote.shortfall.message} ${quote.shortfall.hint} To order ${quote.headshots_expected} for ${money(quote.amount_cents, quote.currency)}, send accept_shortfall: true.`, { quote });
  }
  const now = ctx.clock.now();
  const orderId = newId('ord');
  const paymentId = newId('pay');
  await inTransaction(ctx.db, async (trx) => {
    await trx.insertInto('orders').values({ id: orderId, user_id: user.id, package_id: pkg.id, styles: JSON.stringify(styles), status: 'awaiting_payment', amount_cents: quote.amount_cents, currency: pkg.currency, headshots_expected: quote.headshots_expected, failure_code: null, failure_detail: null, created_at: now, paid_at: null, delivered_at: null }).execute();
    await trx.insertInto('order_photos').values(photoIds.map((photo_id) => ({ order_id: orderId, photo_id }))).execute();
    await trx.insertInto('payments').values({ id: paymentId, order_id: orderId, user_id: user.id, processor: ctx.payments.name, processor_ref: paymentId, amount_cents: quote.amount_cents, currency: pkg.currency, status: 'pending', created_at: now, succeeded_at: null }).execute();
  });
  let intent;
  try {
    intent = await ctx.payments.createPayment({ paymentId, orderId, amountCents: quote.amount_cents, currency: pkg.currency });
  } catch (err) {
    ctx.logger.warn({ err, orderId }, 'payment processor failed; order withdrawn');
    await ctx.db.deleteFrom('orders').where('id', '=', orderId).execute();
    await ctx.db.deleteFrom('payments').where('id', '=', paymentId).execute();
    throw new HttpError(502, 'payment_processor_unavailable', 'Payment processor unavailable', 'Nothing was charged; try again shortly.');
  }
  await ctx.db.updateTable('payments').set({ processor_ref: intent.processorRef }).where('id', '=', paymentId).execute();
  const order = await ctx.db.selectFrom('orders').selectAll().where('id', '=', orderId).executeTakeFirstOrThrow();
  return { status: 201, body: { order: await orderOut(ctx, order), payment: { processor: ctx.payments.name, client_secret: intent.clientSecret } } };
}

/** The shortfall an order agreed to, from what it records (the headshots it makes a style against the package's). */
function agreedShortfall(o: Order) {
  const pkg = findPackage(o.package_id);
  if (!pkg || o.headshots_expected === null || !o.styles.length) return null;
  return quote(pkg, o.styles.length, o.headshots_expected / o.styles.length).shortfall;
}

export async function orderOut(ctx: AppContext, o: Order): Promise<z.infer<typeof OrderOut>> {
  const photos = await ctx.db.selectFrom('order_photos').innerJoin('photos', 'photos.id', 'order_photos.photo_id').selectAll('photos').where('order_photos.order_id', '=', o.id).orderBy('photos.id').execute();
  const headshots = await ctx.db.selectFrom('headshots').selectAll().where('order_id', '=', o.id).where('replaced_by', 'is', null).orderBy('style_id').orderBy('position').orderBy('id').execute();
  const outcome = await orderOutcome(ctx, o);
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
    selection: (await orderChoice(ctx, o.id, findPackage(o.package_id)?.photosPerStyle ?? 1)).map(({ id, ...c }) => ({ photo_id: id, ...c })),
    headshots_expected: o.headshots_expected,
    headshots_delivered: outcome.delivered,
    shortfall: agreedShortfall(o),
    missing: outcome.missing,
    refund: outcome.refund && { ...outcome.refund, created_at: iso(outcome.refund.created_at)! },
    headshots: headshots.map(headshotOut),
  };
}

/** One page of a person's orders, newest first (for the owner, and for audited staff reads). */
export async function ordersPage(ctx: AppContext, userId: string, page: { cursor?: string; limit: number }) {
  let q = ctx.db.selectFrom('orders').selectAll().where('user_id', '=', userId).orderBy('id', 'desc').limit(page.limit + 1);
  if (page.cursor) q = q.where('id', '<', page.cursor);
  const { items, next_cursor } = pageOf(await q.execute(), page.limit);
  return { items: await Promise.all(items.map((o) => orderOut(ctx, o))), next_cursor };
}

async function ownedOrder(ctx: AppContext, userId: string, id: string): Promise<Order> {
  const o = await ctx.db.selectFrom('orders').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  if (!o) throw notFound('Order');
  return o;
}

const headshotExpired = () =>
  new HttpError(410, 'headshot_expired', 'Headshot no longer available', 'Headshots can be downloaded again for 90 days after delivery; this one has passed that.');

/** The owner's rendered headshot within its re-download window (SD6). */
async function ownedHeadshot(ctx: AppContext, userId: string, id: string): Promise<Headshot & { blob_id: string }> {
  const h = await ctx.db.selectFrom('headshots').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  if (!h) {
    // Deleted by retention: say so, rather than pretending it never existed.
    const deleted = await ctx.db.selectFrom('deletion_records').select('id').where('subject_id', '=', id).where('reason', '=', 'retention:headshots').executeTakeFirst();
    throw deleted ? headshotExpired() : notFound('Headshot');
  }
  if (h.status !== 'rendered' || !h.blob_id) throw notFound('Headshot');
  const windowEnds = h.delivered_at ? new Date(h.delivered_at).getTime() + ctx.config.RETENTION_HEADSHOTS_DAYS * DAY_MS : Infinity;
  if (ctx.clock.now().getTime() >= windowEnds) throw headshotExpired();
  return h as Headshot & { blob_id: string };
}

export function orderRoutes(router: Router): void {
  route(
    router,
    { method: 'get', path: '/v1/packages', operationId: 'listPackages', summary: 'Packages on offer', tags: ['Catalog'], auth: 'none', responses: { 200: { description: 'Packages', schema: z.object({ items: z.array(PackageOut) }) } } },
    async (_req, res) => {
      res.json({ items: PACKAGES.map((p) => ({ id: p.id, name: p.name, max_styles: p.maxStyles, photos_per_style: p.photosPerStyle, price_cents: p.priceCents, currency: p.currency })) });
    },
  );

  route(
    router,
    { method: 'get', path: '/v1/styles', operationId: 'listStyles', summary: 'Headshot styles', tags: ['Catalog'], auth: 'none', responses: { 200: { description: 'Styles', schema: z.object({ items: z.array(StyleOut) }) } } },
    async (_req, res) => {
      res.json({ items: STYLES.map((s) => ({ id: s.id, name: s.name, description: s.description, preview_url: `/v1/styles/${s.id}/preview` })) });
    },
  );

  route(
    router,
    { method: 'get', path: '/v1/styles/:id/preview', operationId: 'getStylePreview', summary: "A style's backdrop and light, as a small PNG", tags: ['Catalog'], auth: 'none', params: z.object({ id: Slug }), responses: { 200: { description: 'PNG', contentType: 'image/png' } }, errors: { 404: 'not_found' } },
    async (_req, res, { params }) => {
      const style = findStyle(params.id);
      if (!style) throw new HttpError(404, 'not_found', 'Style not found', `No style ${params.id}.`);
      res.type('png').setHeader('Cache-Control', 'public, max-age=86400');
      res.end(await stylePreview(style.backdrop));
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/orders/quote',
      operationId: 'quoteOrder',
      summary: 'How many headshots a choice makes and what it costs, before ordering',
      description: 'Checks the choice as POST /v1/orders does and answers the headshots it will make (distinct usable photos x photos_per_style x styles), the price, and any shortfall against what the package names, with what to do about it. Creates nothing.',
      tags: ['Orders'],
      auth: 'user',
      body: QuoteRequest,
      responses: { 200: { description: 'The quote', schema: QuoteOut } },
      errors: { 404: 'not_found', 422: 'unknown_package, unknown_style, too_many_styles, photo_not_ready, photo_unusable' },
    },
    async (req, res, { user, body }) => {
      res.json((await quoteChoice(ctxOf(req), user, body)).quote);
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/orders',
      operationId: 'createOrder',
      idempotent: true,
      summary: 'Order headshots; answers with the payment to confirm',
      tags: ['Orders'],
      auth: 'user',
      body: CreateOrder,
      responses: { 201: { description: 'Order awaiting payment', schema: CreatedOrder } },
      errors: { 404: 'not_found', 409: 'policy_acceptance_required', 422: 'unknown_package, unknown_style, too_many_styles, idempotency_key_reused, photo_not_ready, photo_unusable, shortfall_not_accepted', 502: 'payment_processor_unavailable' },
    },
    async (req, res, { user, body }) => {
      const ctx = ctxOf(req);
      await requireAcceptedPolicy(ctx, user); // PO3: a material policy change blocks new orders until accepted
      await idempotent(ctx, req, res, user.id, (tx) => createOrder(tx, user, body));
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/orders/:id/reprocess',
      operationId: 'reprocessOrder',
      idempotent: true,
      summary: "Order other styles from an earlier order's photos, while the originals are kept (30 days)",
      tags: ['Orders'],
      auth: 'user',
      params: OrderId,
      body: Reprocess,
      responses: { 201: { description: 'A new order awaiting payment', schema: CreatedOrder } },
      errors: { 404: 'not_found', 409: 'policy_acceptance_required', 410: 'originals_expired', 422: 'unknown_package, unknown_style, too_many_styles, shortfall_not_accepted' },
    },
    async (req, res, { user, params, body }) => {
      const ctx = ctxOf(req);
      await requireAcceptedPolicy(ctx, user);
      const earlier = await ownedOrder(ctx, user.id, params.id);
      // SD5: only photos still held can be reprocessed; once retention removed them, say so plainly.
      const photos = await ctx.db.selectFrom('order_photos').innerJoin('photos', 'photos.id', 'order_photos.photo_id').select('photos.id').where('order_photos.order_id', '=', earlier.id).where('photos.status', '=', 'usable').execute();
      if (!photos.length) {
        throw new HttpError(410, 'originals_expired', 'Originals no longer held', `Original photos are kept for ${ctx.config.RETENTION_ORIGINALS_DAYS} days after processing; upload new photos to order again.`);
      }
      await idempotent(ctx, req, res, user.id, (tx) => createOrder(tx, user, { package_id: body.package_id ?? earlier.package_id, style_ids: body.style_ids, photo_ids: photos.map((p) => p.id), accept_shortfall: body.accept_shortfall }));
    },
  );

  route(
    router,
    { method: 'get', path: '/v1/orders', operationId: 'listOrders', summary: 'Your orders', tags: ['Orders'], auth: 'user', query: Cursor(idOf('ord', 'order')), responses: { 200: { description: 'Newest first', schema: page(OrderOut, 'OrderPage') } } },
    async (req, res, { user, query }) => {
      res.json(await ordersPage(ctxOf(req), user.id, query));
    },
  );

  route(
    router,
    { method: 'get', path: '/v1/orders/:id', operationId: 'getOrder', summary: 'Order status with each photo\'s verdict and the headshots', tags: ['Orders'], auth: 'user', params: OrderId, responses: { 200: { description: 'Order', schema: OrderOut } }, errors: { 404: 'not_found' } },
    async (req, res, { user, params }) => {
      const ctx = ctxOf(req);
      res.json(await orderOut(ctx, await ownedOrder(ctx, user.id, params.id)));
    },
  );

  route(
    router,
    {
      method: 'patch',
      path: '/v1/orders/:id/photos/:photo_id',
      operationId: 'setOrderPhotoExcluded',
      summary: 'Leave a photo out of an order (or take it back in) before paying',
      tags: ['Orders'],
      auth: 'user',
      params: z.object({ id: idOf('ord', 'order'), photo_id: idOf('pho', 'photo') }),
      body: z.object({ excluded: z.boolean() }).openapi('OrderPhotoExclusion'),
      responses: { 200: { description: 'The order with its new selection', schema: OrderOut } },
      errors: { 404: 'not_found', 409: 'order_already_paid', 422: 'no_photo_left, fewer_headshots' },
    },
    async (req, res, { user, params, body }) => {
      const ctx = ctxOf(req);
      const order = await ownedOrder(ctx, user.id, params.id);
      await ctx.db.transaction().execute(async (trx) => {
        // Under the order's row lock: a payment confirmed meanwhile sees the choice before or after, never half.
        const locked = await trx.selectFrom('orders').select('status').where('id', '=', order.id).forUpdate().executeTakeFirstOrThrow();
        if (locked.status !== 'awaiting_payment') throw new HttpError(409, 'order_already_paid', 'Order already paid', 'Photos can only be left out before paying, and this order is already paid.');
        const r = await trx.updateTable('order_photos').set({ excluded: body.excluded }).where('order_id', '=', order.id).where('photo_id', '=', params.photo_id).executeTakeFirst();
        if (!Number(r.numUpdatedRows)) throw notFound('Photo');
        const left = await trx.selectFrom('order_photos').select('photo_id').where('order_id', '=', order.id).where('excluded', '=', false).execute();
        if (!left.length) throw new HttpError(422, 'no_photo_left', 'No photo left', 'Keep at least one photo in the order.');
        // The count was agreed with the price: leaving out a photo the order needs would make fewer.
        const distinct = (await orderChoice({ ...ctx, db: trx }, order.id, Infinity)).filter((c) => c.chosen).length;
        const pkg = findPackage(order.package_id)!;
        const makes = Math.min(distinct, pkg.photosPerStyle) * order.styles.length;
        if (order.headshots_expected !== null && makes < order.headshots_expected) {
          throw new HttpError(422, 'fewer_headshots', 'The order needs this photo', `Without this photo the order would make ${makes} headshots instead of the ${order.headshots_expected} agreed. Keep it, or upload another photo and order again.`);
        }
      });
      res.json(await orderOut(ctx, order));
    },
  );

  route(
    router,
    { method: 'get', path: '/v1/headshots/:id/content', operationId: 'getHeadshotContent', summary: 'Download a headshot (4:5, or a 1:1 crop with the same eye line)', tags: ['Headshots'], auth: 'user', params: HeadshotId, query: AspectQuery, responses: { 200: { description: 'JPEG', contentType: 'image/jpeg' } }, errors: { 404: 'not_found', 410: 'headshot_expired' } },
    async (req, res, { user, params, query }) => {
      const ctx = ctxOf(req);
      await sendHeadshot(ctx, res, await ownedHeadshot(ctx, user.id, params.id), query.aspect);
    },
  );

  route(
    router,
    { method: 'post', path: '/v1/headshots/:id/link', operationId: 'createHeadshotLink', summary: 'A download link for one headshot that expires within minutes', tags: ['Headshots'], auth: 'user', params: HeadshotId, responses: { 201: { description: 'Signed link', schema: Link } }, errors: { 404: 'not_found' } },
    async (req, res, { user, params }) => {
      const ctx = ctxOf(req);
      const h = await ownedHeadshot(ctx, user.id, params.id);
      const exp = Math.floor(ctx.clock.now().getTime() / 1000) + ctx.config.DOWNLOAD_LINK_TTL_SECONDS;
      const token = signToken(ctx.config.LINK_SECRET, 'download', { h: h.id, u: user.id, exp });
      res.status(201).json({ url: `${ctx.publicUrl}/v1/downloads/${token}`, expires_at: new Date(exp * 1000).toISOString() });
    },
  );

  route(
    router,
    { method: 'get', path: '/v1/downloads/:token', operationId: 'followHeadshotLink', summary: 'Follow a signed download link', tags: ['Headshots'], auth: 'none', params: TokenParam, query: AspectQuery, responses: { 200: { description: 'JPEG', contentType: 'image/jpeg' } }, errors: { 403: 'link_invalid', 410: 'link_expired' } },
    async (req, res, { params, query }) => {
      const ctx = ctxOf(req);
      const claim = verifyToken<{ h: string; u: string; exp: number }>(ctx.config.LINK_SECRET, 'download', params.token);
      if (!claim) throw new HttpError(403, 'link_invalid', 'Invalid link', 'This download link is not valid.');
      if (claim.exp * 1000 < ctx.clock.now().getTime()) throw new HttpError(410, 'link_expired', 'Link expired', 'Ask for a new link from your order.');
      const h = await ownedHeadshot(ctx, claim.u, claim.h).catch(() => {
        throw new HttpError(410, 'link_expired', 'No longer available', 'This headshot is no longer available.');
      });
      await sendHeadshot(ctx, res, h, query.aspect);
    },
  );
}

const AspectQuery = z.object({ aspect: z.enum(ASPECTS).default('4:5').openapi({ description: '4:5 (1024x1280) or 1:1 (1024x1024)' }) });

/** Streams the stored 4:5 master, or decrypts and crops the 1:1 square from it. */
async function sendHeadshot(ctx: AppContext, res: Response, h: Headshot & { blob_id: string }, aspect: (typeof ASPECTS)[number]): Promise<void> {
  const blob = await ctx.db.selectFrom('blobs').selectAll().where('id', '=', h.blob_id).executeTakeFirstOrThrow();
  const filename = `rasmi-${h.style_id}-${h.id}${aspect === '1:1' ? '-square' : ''}.jpg`;
  if (aspect === '4:5') return streamBlob(ctx, blob, res, filename);
  const master = await ctx.storage.read(blob);
  const meta = await sharp(master).metadata();
  const square = await sharp(master).extract(squareCrop(meta.width!, meta.height!)).jpeg({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer();
  res.setHeader('Content-Type', 'image/jpeg');
  res.setHeader('Cache-Control', 'private, no-store');
  res.setHeader('Content-Disposition', `attachment; filename="${filename}"`);
  res.end(square);
}

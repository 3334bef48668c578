import type { Response, Router } from 'express';
import { stylePreview } from '../../core/orders/backdrops';
import { ASPECTS, findStyle, PACKAGES, STYLES } from '../../core/orders/catalog';
import { headshotFile, ownedHeadshot, type Aspect, type RenderedHeadshot } from '../../core/orders/headshots';
import {
  createOrder,
  ordersPage,
  ownedOrder,
  quoteChoice,
  reprocessChoice,
  setPhotoExcluded,
  type OrderChoice as Choice,
  type PlacedOrder,
} from '../../core/orders/ordering';
import type { AppContext } from '../../core/platform/context';
import { signToken, verifyToken } from '../../core/platform/crypto';
import { requireAcceptedPolicy } from '../../core/privacy/policy';
import { ctxOf } from '../auth';
import { idempotent } from '../idempotency';
import { z } from '../openapi';
import { orderOut } from '../order-out';
import { HttpError } from '../problem';
import { route } from '../route';
import { Cursor, IdParam, idOf, OrderOut, page, Quote as QuoteOut, Slug, TokenParam } from '../schemas';
import { streamBlob } from '../stream-blob';

const OrderChoice = z.object({
  package_id: z.string().openapi({ example: 'professional' }),
  style_ids: z
    .array(z.string())
    .min(1)
    .max(10)
    .openapi({ example: ['studio-grey', 'navy-gradient'] }),
  photo_ids: z.array(idOf('pho', 'photo')).min(1).max(20),
});
const QuoteRequest = OrderChoice.openapi('QuoteRequest');
const CreateOrder = OrderChoice.extend({
  accept_shortfall: z.boolean().optional().openapi({
    description:
      'Required (true) when the quote has a shortfall: the person agreed to fewer headshots than the package names, at the lower price',
  }),
}).openapi('CreateOrder');

const OrderId = IdParam('ord', 'order');
const HeadshotId = IdParam('hs', 'headshot');

const Reprocess = z
  .object({
    style_ids: z.array(z.string()).min(1).max(10),
    package_id: z.string().optional(),
    accept_shortfall: z.boolean().optional(),
  })
  .openapi('Reprocess');

const CreatedOrder = z
  .object({ order: OrderOut, payment: z.object({ processor: z.string(), client_secret: z.string() }) })
  .openapi('CreatedOrder');

const PackageOut = z
  .object({
    id: z.string(),
    name: z.string(),
    max_styles: z.number().int(),
    photos_per_style: z.number().int(),
    price_cents: z.number().int(),
    currency: z.string(),
  })
  .openapi('Package');
const StyleOut = z
  .object({ id: z.string(), name: z.string(), description: z.string(), preview_url: z.string() })
  .openapi('Style');
const Link = z.object({ url: z.string(), expires_at: z.string().datetime() }).openapi('DownloadLink');

/** The body's choice in the use cases' terms. */
const choiceOf = (body: z.infer<typeof OrderChoice>): Choice => ({
  packageId: body.package_id,
  styleIds: body.style_ids,
  photoIds: body.photo_ids,
});

/** A placed order as answered (and stored for an idempotent replay). */
const placed = async (ctx: AppContext, p: PlacedOrder) => ({
  status: 201,
  body: {
    order: await orderOut(ctx, p.order),
    payment: { processor: ctx.payments.name, client_secret: p.clientSecret },
  },
});

export function orderRoutes(router: Router): void {
  route(
    router,
    {
      method: 'get',
      path: '/v1/packages',
      operationId: 'listPackages',
      summary: 'Packages on offer',
      tags: ['Catalog'],
      auth: 'none',
      responses: { 200: { description: 'Packages', schema: z.object({ items: z.array(PackageOut) }) } },
    },
    async (_req, res) => {
      res.json({
        items: PACKAGES.map((p) => ({
          id: p.id,
          name: p.name,
          max_styles: p.maxStyles,
          photos_per_style: p.photosPerStyle,
          price_cents: p.priceCents,
          currency: p.currency,
        })),
      });
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/styles',
      operationId: 'listStyles',
      summary: 'Headshot styles',
      tags: ['Catalog'],
      auth: 'none',
      responses: { 200: { description: 'Styles', schema: z.object({ items: z.array(StyleOut) }) } },
    },
    async (_req, res) => {
      res.json({
        items: STYLES.map((s) => ({
          id: s.id,
          name: s.name,
          description: s.description,
          preview_url: `/v1/styles/${s.id}/preview`,
        })),
      });
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/styles/:id/preview',
      operationId: 'getStylePreview',
      summary: "A style's backdrop and light, as a small PNG",
      tags: ['Catalog'],
      auth: 'none',
      params: z.object({ id: Slug }),
      responses: { 200: { description: 'PNG', contentType: 'image/png' } },
      errors: { 404: 'not_found' },
    },
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
      description:
        'Checks the choice as POST /v1/orders does and answers the headshots it will make (distinct usable photos x photos_per_style x styles), the price, and any shortfall against what the package names, with what to do about it. Creates nothing.',
      tags: ['Orders'],
      auth: 'user',
      body: QuoteRequest,
      responses: { 200: { description: 'The quote', schema: QuoteOut } },
      errors: {
        404: 'not_found',
        422: 'unknown_package, unknown_style, too_many_styles, photo_not_ready, photo_unusable',
      },
    },
    async (req, res, { user, body }) => {
      res.json((await quoteChoice(ctxOf(req), user.id, choiceOf(body))).quote);
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
      errors: {
        404: 'not_found',
        409: 'policy_acceptance_required',
        422: 'unknown_package, unknown_style, too_many_styles, idempotency_key_reused, photo_not_ready, photo_unusable, shortfall_not_accepted',
        502: 'payment_processor_unavailable',
      },
    },
    async (req, res, { user, body }) => {
      const ctx = ctxOf(req);
      await requireAcceptedPolicy(ctx, user); // PO3: a material policy change blocks new orders until accepted
      await idempotent(ctx, req, res, user.id, async (tx) =>
        placed(tx, await createOrder(tx, user.id, { ...choiceOf(body), acceptShortfall: body.accept_shortfall })),
      );
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
      errors: {
        404: 'not_found',
        409: 'policy_acceptance_required',
        410: 'originals_expired',
        422: 'unknown_package, unknown_style, too_many_styles, shortfall_not_accepted',
      },
    },
    async (req, res, { user, params, body }) => {
      const ctx = ctxOf(req);
      await requireAcceptedPolicy(ctx, user);
      const choice = await reprocessChoice(ctx, user.id, params.id, {
        styleIds: body.style_ids,
        packageId: body.package_id,
      });
      await idempotent(ctx, req, res, user.id, async (tx) =>
        placed(tx, await createOrder(tx, user.id, { ...choice, acceptShortfall: body.accept_shortfall })),
      );
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/orders',
      operationId: 'listOrders',
      summary: 'Your orders',
      tags: ['Orders'],
      auth: 'user',
      query: Cursor(idOf('ord', 'order')),
      responses: { 200: { description: 'Newest first', schema: page(OrderOut, 'OrderPage') } },
    },
    async (req, res, { user, query }) => {
      const ctx = ctxOf(req);
      const { items, next_cursor } = await ordersPage(ctx, user.id, query);
      res.json({ items: await Promise.all(items.map((o) => orderOut(ctx, o))), next_cursor });
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/orders/:id',
      operationId: 'getOrder',
      summary: "Order status with each photo's verdict and the headshots",
      tags: ['Orders'],
      auth: 'user',
      params: OrderId,
      responses: { 200: { description: 'Order', schema: OrderOut } },
      errors: { 404: 'not_found' },
    },
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
      const order = await setPhotoExcluded(ctx, user.id, params.id, params.photo_id, body.excluded);
      res.json(await orderOut(ctx, order));
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/headshots/:id/content',
      operationId: 'getHeadshotContent',
      summary: 'Download a headshot (4:5, or a 1:1 crop with the same eye line)',
      tags: ['Headshots'],
      auth: 'user',
      params: HeadshotId,
      query: AspectQuery,
      responses: { 200: { description: 'JPEG', contentType: 'image/jpeg' } },
      errors: { 404: 'not_found', 410: 'headshot_expired' },
    },
    async (req, res, { user, params, query }) => {
      const ctx = ctxOf(req);
      await sendHeadshot(ctx, res, await ownedHeadshot(ctx, user.id, params.id), query.aspect);
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/headshots/:id/link',
      operationId: 'createHeadshotLink',
      summary: 'A download link for one headshot that expires within minutes',
      tags: ['Headshots'],
      auth: 'user',
      params: HeadshotId,
      responses: { 201: { description: 'Signed link', schema: Link } },
      errors: { 404: 'not_found' },
    },
    async (req, res, { user, params }) => {
      const ctx = ctxOf(req);
      const h = await ownedHeadshot(ctx, user.id, params.id);
      const exp = Math.floor(ctx.clock.now().getTime() / 1000) + ctx.config.DOWNLOAD_LINK_TTL_SECONDS;
      const token = signToken(ctx.config.LINK_SECRET, 'download', { h: h.id, u: user.id, exp });
      res
        .status(201)
        .json({ url: `${ctx.publicUrl}/v1/downloads/${token}`, expires_at: new Date(exp * 1000).toISOString() });
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/downloads/:token',
      operationId: 'followHeadshotLink',
      summary: 'Follow a signed download link',
      tags: ['Headshots'],
      auth: 'none',
      params: TokenParam,
      query: AspectQuery,
      responses: { 200: { description: 'JPEG', contentType: 'image/jpeg' } },
      errors: { 403: 'link_invalid', 410: 'link_expired' },
    },
    async (req, res, { params, query }) => {
      const ctx = ctxOf(req);
      const claim = verifyToken<{ h: string; u: string; exp: number }>(
        ctx.config.LINK_SECRET,
        'download',
        params.token,
      );
      if (!claim) throw new HttpError(403, 'link_invalid', 'Invalid link', 'This download link is not valid.');
      if (claim.exp * 1000 < ctx.clock.now().getTime())
        throw new HttpError(410, 'link_expired', 'Link expired', 'Ask for a new link from your order.');
      const h = await ownedHeadshot(ctx, claim.u, claim.h).catch(() => {
        throw new HttpError(410, 'link_expired', 'No longer available', 'This headshot is no longer available.');
      });
      await sendHeadshot(ctx, res, h, query.aspect);
    },
  );
}

const AspectQuery = z.object({
  aspect: z.enum(ASPECTS).default('4:5').openapi({ description: '4:5 (1024x1280) or 1:1 (1024x1024)' }),
});

/** Sends a headshot's download: the stored master streamed, or the square crop. */
async function sendHeadshot(ctx: AppContext, res: Response, h: RenderedHeadshot, aspect: Aspect): Promise<void> {
  const file = await headshotFile(ctx, h, aspect);
  if ('blob' in file) return streamBlob(ctx, file.blob, res, file.filename);
  res.setHeader('Content-Type', 'image/jpeg');
  res.setHeader('Cache-Control', 'private, no-store');
  res.setHeader('Content-Disposition', `attachment; filename="${file.filename}"`);
  res.end(file.jpeg);
}

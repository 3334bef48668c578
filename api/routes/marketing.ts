import type { Response, Router } from 'express';
import { createCampaign, queueCampaign, unsubscribe, unsubscribeLinkOwner } from '../../core/privacy/campaigns';
import { ctxOf } from '../auth';
import { idempotent } from '../idempotency';
import { z } from '../openapi';
import { TokenParam } from '../schemas';
import { route } from '../route';

/** Marketing campaigns (admin) and the one-click unsubscribe (core/privacy/campaigns.ts). */

const Campaign = z
  .object({ subject: z.string().trim().min(1).max(200), text: z.string().trim().min(1).max(20_000) })
  .openapi('MarketingCampaign');
const CampaignQueued = z
  .object({ campaign_id: z.string(), status: z.literal('queued') })
  .openapi('MarketingCampaignQueued');

/** A minimal page for people who follow the link in a browser; nothing of theirs is in it. */
function page(res: Response, title: string, body: string): void {
  res
    .type('html')
    .setHeader('Cache-Control', 'no-store')
    .send(`<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`);
}

export function marketingRoutes(router: Router): void {
  route(
    router,
    {
      method: 'post',
      path: '/v1/admin/marketing/send',
      operationId: 'sendMarketingCampaign',
      idempotent: true,
      summary: 'Send a marketing email to everyone whose marketing consent is in force',
      tags: ['Marketing'],
      auth: 'admin',
      body: Campaign,
      responses: { 202: { description: 'Queued; sent in batches by the workers', schema: CampaignQueued } },
      errors: { 422: 'idempotency_key_reused' },
    },
    async (req, res, { user, body }) => {
      const ctx = ctxOf(req);
      await idempotent(
        ctx,
        req,
        res,
        user.id,
        async (tx) => ({
          status: 202,
          body: { campaign_id: await createCampaign(tx, tx.db, user.id, body), status: 'queued' },
        }),
        // "queued" only once it is: committed first, then queued (on a replay too).
        async ({ body: answer }) => queueCampaign(ctx, (answer as { campaign_id: string }).campaign_id),
      );
    },
  );

  // RFC 8058: mail clients POST "List-Unsubscribe=One-Click" to this URL, without signing in.
  route(
    router,
    {
      method: 'post',
      path: '/v1/unsubscribe/:token',
      operationId: 'unsubscribe',
      summary: 'One-click unsubscribe from marketing email (RFC 8058)',
      tags: ['Marketing'],
      auth: 'none',
      params: TokenParam,
      responses: { 200: { description: 'Unsubscribed', schema: z.object({ status: z.literal('unsubscribed') }) } },
      errors: { 404: 'link_invalid' },
    },
    async (req, res, { params }) => {
      await unsubscribe(ctxOf(req), params.token);
      // The confirmation page's button posts here too; a browser gets a page, a mail client JSON.
      if (req.accepts(['json', 'html']) === 'html')
        page(
          res,
          'Unsubscribed',
          '<h1>You are unsubscribed</h1><p>You will get no more marketing email from Rasmi. Emails about your orders and your account still reach you.</p>',
        );
      else res.json({ status: 'unsubscribed' });
    },
  );

  // The same link opened in a browser: a page with one button that posts the form. A GET changes
  // nothing, because mail security scanners fetch every link in a message.
  route(
    router,
    {
      method: 'get',
      path: '/v1/unsubscribe/:token',
      operationId: 'getUnsubscribePage',
      summary: 'Confirmation page for unsubscribing in a browser (one button; the GET itself changes nothing)',
      tags: ['Marketing'],
      auth: 'none',
      params: TokenParam,
      responses: { 200: { description: 'A plain confirmation page', contentType: 'text/html' } },
      errors: { 404: 'link_invalid' },
    },
    async (req, res, { params }) => {
      unsubscribeLinkOwner(ctxOf(req), params.token);
      const action = `/v1/unsubscribe/${encodeURIComponent(params.token)}`;
      page(
        res,
        'Unsubscribe',
        `<h1>Unsubscribe from Rasmi news?</h1><p>You will get no more marketing email. Emails about your orders and your account still reach you.</p><form method="post" action="${action}"><button type="submit">Unsubscribe</button></form>`,
      );
    },
  );
}

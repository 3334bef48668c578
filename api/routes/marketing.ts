import type { Request, Response, Router } from 'express';
import { changeConsent } from '../../core/privacy/consent-changes';
import { newId } from '../../core/platform/crypto';
import { jobId } from '../../core/platform/jobs';
import { userFromUnsubscribeToken } from '../../core/privacy/marketing';
import { ctxOf } from '../auth';
import { idempotent } from '../idempotency';
import { z } from '../openapi';
import { TokenParam } from '../schemas';
import { HttpError } from '../problem';
import { route } from '../route';

/** Marketing campaigns (admin) and the one-click unsubscribe every marketing email links to (CN1, RT5). */

const Campaign = z.object({ subject: z.string().trim().min(1).max(200), text: z.string().trim().min(1).max(20_000) }).openapi('MarketingCampaign');
const CampaignQueued = z.object({ campaign_id: z.string(), status: z.literal('queued') }).openapi('MarketingCampaignQueued');

/** The person an unsubscribe link names, or 404 for a link that was not made by us. */
function linkOwner(req: Request, token: string): string {
  const userId = userFromUnsubscribeToken(ctxOf(req), token);
  if (!userId) throw new HttpError(404, 'link_invalid', 'Invalid link', 'This unsubscribe link is not valid.');
  return userId;
}

/** Withdraws marketing consent and removes marketing data; a link for a deleted account does nothing. */
async function unsubscribe(req: Request, token: string): Promise<void> {
  const ctx = ctxOf(req);
  const userId = linkOwner(req, token);
  const user = await ctx.db.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst();
  if (user) await changeConsent(ctx, user.id, 'marketing', false, 'unsubscribe-link');
}

/** A minimal page for people who follow the link in a browser; nothing of theirs is in it. */
function page(res: Response, title: string, body: string): void {
  res.type('html').setHeader('Cache-Control', 'no-store').send(`<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`);
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
        async (tx) => {
          const id = newId('cmp');
          await tx.db.insertInto('marketing_campaigns').values({ id, subject: body.subject, body: body.text, created_by: user.id, created_at: ctx.clock.now() }).execute();
          return { status: 202, body: { campaign_id: id, status: 'queued' } };
        },
        // "queued" only once it is: committed first, then queued (on a replay too; the fixed job id makes it once).
        async ({ body: answer }) => {
          const campaignId = (answer as { campaign_id: string }).campaign_id;
          await ctx.queues.enqueue('marketing.fanout', { campaignId }, { jobId: jobId('marketing-fanout', campaignId) });
        },
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
      await unsubscribe(req, params.token);
      // The confirmation page's button posts here too; a browser gets a page, a mail client JSON.
      if (req.accepts(['json', 'html']) === 'html') page(res, 'Unsubscribed', '<h1>You are unsubscribed</h1><p>You will get no more marketing email from Rasmi. Emails about your orders and your account still reach you.</p>');
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
      linkOwner(req, params.token);
      const action = `/v1/unsubscribe/${encodeURIComponent(params.token)}`;
      page(res, 'Unsubscribe', `<h1>Unsubscribe from Rasmi news?</h1><p>You will get no more marketing email. Emails about your orders and your account still reach you.</p><form method="post" action="${action}"><button type="submit">Unsubscribe</button></form>`);
    },
  );
}

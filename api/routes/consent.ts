import type { Request, Response, Router } from 'express';
import { DAY_MS } from '../../core/platform/config';
import { changeConsent } from '../../core/privacy/consent-changes';
import { consentsOf, PURPOSES } from '../../core/privacy/consent';
import type { AppContext } from '../../core/platform/context';
import { newId } from '../../core/platform/crypto';
import type { Purpose, User } from '../../core/platform/records';
import { consentHistory, cookieChoiceOf, recordCookieChoice, recordUsageEvent } from '../../core/privacy/cookies';
import { optOutSignal, VISITOR_COOKIE, visitorIdFromCookie } from '../../core/privacy/tracking';
import { ctxOf, userForToken } from '../auth';
import { z } from '../openapi';
import { HttpError } from '../problem';
import { route } from '../route';
import { iso } from '../schemas';

/**
 * Consent (CN1, CN2, CN4, SD4) and usage analytics (CN2, CN3, CN5). Every optional purpose is off
 * until the person opts in; cookie categories other than essential are off until the browser's
 * choice is recorded; and nothing is tracked from a browser that sends DNT or GPC.
 */

const PurposeFlags = z.object({
  marketing: z.boolean(),
  analytics: z.boolean(),
  service_improvement: z.boolean(),
  portfolio: z.boolean(),
  whatsapp: z.boolean(),
});

const ConsentsOut = z
  .object({
    consents: PurposeFlags.openapi({ description: 'The decision in force per purpose; never decided is false' }),
    history: z
      .array(
        z.object({ purpose: z.string(), granted: z.boolean(), source: z.string(), recorded_at: z.string().datetime() }),
      )
      .openapi({ description: 'Every decision, newest first' }),
  })
  .openapi('Consents');

const ConsentsUpdate = PurposeFlags.partial()
  .refine((v) => Object.keys(v).length > 0, 'name at least one purpose')
  .openapi('ConsentsUpdate', {
    description: 'Purposes to opt in to (true) or withdraw (false); others stay as they are.',
  });

const CookieChoice = z
  .object({ preference: z.boolean(), analytics: z.boolean(), marketing: z.boolean() })
  .openapi('CookieChoice');

const CookieConsentOut = z
  .object({
    essential: z.literal(true).openapi({ description: 'Essential cookies are always on and not a choice' }),
    preference: z.boolean(),
    analytics: z.boolean(),
    marketing: z.boolean(),
    decided: z.boolean().openapi({
      description: 'Whether this browser has recorded a choice; until then only essential cookies are used',
    }),
    recorded_at: z.string().datetime().nullable(),
    opt_out_signal: z.enum(['dnt', 'gpc']).nullable().openapi({
      description: 'DNT or GPC sent by this browser: no analytics or marketing tracking happens whatever the choice',
    }),
  })
  .openapi('CookieConsent');

const AnalyticsEvent = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/)
      .openapi({
        example: 'page_view',
        description: 'Names starting with "marketing." are marketing tracking and need the marketing category',
      }),
    path: z.string().max(512).regex(/^\//, 'a path starting with /').optional().openapi({ example: '/pricing' }),
  })
  .openapi('AnalyticsEvent');

const EventResult = z
  .object({ recorded: z.boolean(), reason: z.enum(['dnt', 'gpc', 'no_consent']).optional() })
  .openapi('AnalyticsEventResult');

async function consentsBody(ctx: AppContext, userId: string) {
  const history = await consentHistory(ctx, userId);
  return {
    consents: await consentsOf(ctx, userId),
    history: history.map((h) => ({ ...h, recorded_at: iso(h.recorded_at)! })),
  };
}

/**
 * The browser's id from the essential cookie `rasmi_vid`, set when absent (or refreshed when asked):
 * HttpOnly, SameSite=Lax, living as long as usage data is kept.
 */
function visitorOf(req: Request, res: Response, refresh = false): { id: string; fresh: boolean } {
  const ctx = ctxOf(req);
  const known = visitorIdFromCookie(req.headers.cookie);
  const id = known ?? newId('vis');
  if (!known || refresh) {
    res.cookie(VISITOR_COOKIE, id, {
      httpOnly: true,
      sameSite: 'lax',
      secure: ctx.publicUrl.startsWith('https:'),
      path: '/',
      maxAge: ctx.config.USAGE_DATA_RETENTION_DAYS * DAY_MS,
    });
  }
  return { id, fresh: !known };
}

/** Cookie and analytics routes work signed out; a valid bearer token ties them to the person. */
const optionalUser = (req: Request): Promise<User | undefined> => userForToken(ctxOf(req), req.headers.authorization);

function cookieBody(
  req: Request,
  row: { preference: boolean; analytics: boolean; marketing: boolean; recorded_at: Date } | undefined,
) {
  return {
    essential: true as const,
    preference: row?.preference ?? false,
    analytics: row?.analytics ?? false,
    marketing: row?.marketing ?? false,
    decided: !!row,
    recorded_at: iso(row?.recorded_at ?? null),
    opt_out_signal: optOutSignal(req),
  };
}

export function consentRoutes(router: Router): void {
  route(
    router,
    {
      method: 'get',
      path: '/v1/me/consents',
      operationId: 'getConsents',
      summary: 'Your consent per optional purpose, with its history',
      tags: ['Consent'],
      auth: 'user',
      responses: { 200: { description: 'Consents', schema: ConsentsOut } },
    },
    async (req, res, { user }) => {
      res.json(await consentsBody(ctxOf(req), user.id));
    },
  );

  route(
    router,
    {
      method: 'put',
      path: '/v1/me/consents',
      operationId: 'updateConsents',
      summary: 'Opt in to or withdraw optional purposes; a withdrawal takes effect at once',
      tags: ['Consent'],
      auth: 'user',
      body: ConsentsUpdate,
      responses: { 200: { description: 'Consents after the change', schema: ConsentsOut } },
      errors: { 422: 'phone_required' },
    },
    async (req, res, { user, body }) => {
      const ctx = ctxOf(req);
      if (body.whatsapp && !user.phone_enc) {
        throw new HttpError(
          422,
          'phone_required',
          'A phone number is needed',
          'Add a phone number to your profile before opting in to WhatsApp notifications.',
        );
      }
      for (const purpose of PURPOSES) {
        const granted = body[purpose as Purpose];
        if (granted !== undefined) await changeConsent(ctx, user.id, purpose, granted, 'settings');
      }
      res.json(await consentsBody(ctx, user.id));
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/cookie-consent',
      operationId: 'getCookieConsent',
      summary: "This browser's cookie choices; sets the essential visitor cookie if absent",
      tags: ['Consent'],
      auth: 'none',
      responses: { 200: { description: 'Cookie choices', schema: CookieConsentOut } },
    },
    async (req, res) => {
      const ctx = ctxOf(req);
      const visitor = visitorOf(req, res);
      res.setHeader('Cache-Control', 'private, no-store');
      res.json(cookieBody(req, visitor.fresh ? undefined : await cookieChoiceOf(ctx, visitor.id)));
    },
  );

  route(
    router,
    {
      method: 'put',
      path: '/v1/cookie-consent',
      operationId: 'setCookieConsent',
      summary: "Record this browser's cookie choices (essential is always on); kept with history",
      tags: ['Consent'],
      auth: 'none',
      body: CookieChoice,
      responses: { 200: { description: 'Cookie choices now in force', schema: CookieConsentOut } },
    },
    async (req, res, { body }) => {
      const ctx = ctxOf(req);
      const visitor = visitorOf(req, res, true);
      const user = await optionalUser(req);
      const row = await recordCookieChoice(ctx, visitor, user?.id, body);
      res.setHeader('Cache-Control', 'private, no-store');
      res.json(cookieBody(req, row));
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/v1/analytics/events',
      operationId: 'recordAnalyticsEvent',
      summary: 'Record a usage event, only with consent and never under DNT or GPC',
      tags: ['Consent'],
      auth: 'none',
      body: AnalyticsEvent,
      responses: { 202: { description: 'Whether the event was recorded, and if not, why', schema: EventResult } },
    },
    async (req, res, { body }) => {
      const ctx = ctxOf(req);
      const visitor = visitorOf(req, res);
      const answer = (recorded: boolean, reason?: 'dnt' | 'gpc' | 'no_consent') =>
        void res.status(202).json(reason ? { recorded, reason } : { recorded });
      // DNT / GPC first: such a request is not even looked up (CN3).
      const signal = optOutSignal(req);
      if (signal) return answer(false, signal);
      const r = await recordUsageEvent(ctx, visitor, async () => (await optionalUser(req))?.id, {
        name: body.name,
        path: body.path,
        ip: req.ip,
        userAgent: req.headers['user-agent'],
      });
      answer(r.recorded, r.reason);
    },
  );
}

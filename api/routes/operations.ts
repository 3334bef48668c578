import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type express from 'express';
import type { NextFunction, Request, Response, Router } from 'express';
import type { AppContext } from '../../core/platform/context';
import type { User } from '../../core/platform/records';
import { readiness } from '../../core/platform/readiness';
import { authenticate, ctxOf, requireRole } from '../auth';
import { z } from '../openapi';
import { route } from '../route';

const BOARD_PATH = '/admin/queues';
const COOKIE = 'rasmi_admin';

function board(ctx: AppContext, readOnlyMode: boolean): express.Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(BOARD_PATH);
  createBullBoard({
    queues: Object.values(ctx.queues.byName).map(
      (q) => new BullMQAdapter(q, { readOnlyMode, allowRetries: !readOnlyMode }),
    ),
    serverAdapter,
    options: { uiConfig: { boardTitle: readOnlyMode ? 'Rasmi queues (read-only)' : 'Rasmi queues' } },
  });
  return serverAdapter.getRouter() as express.Router;
}

/** Browsers cannot send a bearer header to the dashboard, so its token may come in an HttpOnly cookie. */
function tokenFromCookie(req: Request, _res: Response, next: NextFunction): void {
  if (!req.headers.authorization) {
    const token = /(?:^|;\s*)rasmi_admin=([A-Za-z0-9_-]+)/.exec(req.headers.cookie ?? '')?.[1];
    if (token) req.headers.authorization = `Bearer ${token}`;
  }
  next();
}

export function operationsRoutes(router: Router, ctx: AppContext): void {
  route(
    router,
    {
      method: 'get',
      path: '/healthz',
      operationId: 'getHealth',
      summary: 'Liveness',
      tags: ['Operations'],
      auth: 'none',
      responses: { 200: { description: 'The process is up', schema: z.object({ status: z.literal('ok') }) } },
    },
    async (_req, res) => {
      res.json({ status: 'ok' });
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/readyz',
      operationId: 'getReadiness',
      summary: 'Readiness: Postgres, Redis and the object store answer',
      tags: ['Operations'],
      auth: 'none',
      responses: {
        200: {
          description: 'Ready',
          schema: z.object({
            status: z.enum(['ready', 'unavailable']),
            checks: z.record(z.string(), z.enum(['ok', 'down'])),
          }),
        },
      },
      errors: { 503: 'not_ready' },
    },
    async (req, res) => {
      const { ok, checks } = await readiness(ctxOf(req));
      res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'unavailable', checks });
    },
  );

  route(
    router,
    {
      method: 'post',
      path: '/admin/session',
      operationId: 'createAdminSession',
      summary: 'Set the dashboard cookie from a staff bearer token',
      tags: ['Operations'],
      auth: 'support',
      responses: { 204: { description: 'Cookie set; open /admin/queues' } },
    },
    async (req, res) => {
      const token = req.headers.authorization!.slice('Bearer '.length);
      res
        .cookie(COOKIE, token, {
          httpOnly: true,
          sameSite: 'strict',
          secure: ctx.config.PUBLIC_URL.startsWith('https:'),
          path: '/admin',
        })
        .status(204)
        .end();
    },
  );

  // Bull Board: staff see the queues; only admins may retry, promote or clean jobs.
  const adminBoard = board(ctx, false);
  const staffBoard = board(ctx, true);
  router.use(
    BOARD_PATH,
    tokenFromCookie,
    authenticate,
    requireRole('support'),
    (req: Request, res: Response, next: NextFunction) => {
      const user = res.locals.user as User;
      (user.role === 'admin' ? adminBoard : staffBoard)(req, res, next);
    },
  );
}

import type { NextFunction, Request, Response, Router } from 'express';
import { metricsAccess, METRICS_CONTENT_TYPE, observeHttp, renderMetrics } from '../../core/platform/metrics';
import { ctxOf } from '../auth';
import { HttpError } from '../problem';
import { route } from '../route';

/**
 * Times every request. The route label is the matched pattern (/v1/photos/:id), never the raw
 * URL, so ids and link tokens stay out of the metrics and the label set stays bounded.
 */
export function httpMetrics(req: Request, res: Response, next: NextFunction): void {
  const started = process.hrtime.bigint();
  res.once('finish', () => {
    const pattern = req.route?.path;
    const label =
      typeof pattern === 'string' ? (req.baseUrl ?? '') + pattern : req.baseUrl ? `${req.baseUrl}/*` : 'unmatched';
    observeHttp(req.method, label, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9);
  });
  next();
}

export function metricsRoutes(router: Router): void {
  route(
    router,
    {
      method: 'get',
      path: '/metrics',
      operationId: 'getMetrics',
      summary: 'Prometheus metrics (Authorization: Bearer METRICS_TOKEN; 404 in production without one)',
      tags: ['Operations'],
      auth: 'none',
      responses: { 200: { description: 'Prometheus text exposition format', contentType: 'text/plain' } },
      errors: { 401: 'unauthorized', 404: 'route_not_found' },
    },
    async (req, res) => {
      const ctx = ctxOf(req);
      const access = metricsAccess(ctx.config, req.headers.authorization);
      if (access === 'disabled')
        throw new HttpError(404, 'route_not_found', 'Not found', `No route ${req.method} ${req.path}.`);
      if (access === 'unauthorized') {
        res.setHeader('WWW-Authenticate', 'Bearer');
        throw new HttpError(
          401,
          'unauthorized',
          'Authentication required',
          'Send the metrics token as a bearer token.',
        );
      }
      res.type(METRICS_CONTENT_TYPE).send(await renderMetrics(ctx));
    },
  );
}

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { backlogs } from './backlog';
import type { AppContext } from './context';
import { metricsAccess, METRICS_CONTENT_TYPE, renderMetrics } from './metrics';
import { readiness } from './readiness';

/**
 * GET /metrics for the worker and scheduler roles, which have no API: job durations and model
 * inference times are measured in their processes. Same token rule as the API's /metrics. Also
 * GET /healthz (the process answers) and GET /readyz (Postgres, Redis and storage answer), without
 * a token, for Kubernetes probes, as the API answers them. GET /backlog (same token) is each queue's
 * backlog as JSON (core/platform/backlog.ts), what KEDA's metrics-api triggers scale the workers on.
 */
export function serveMetrics(
  ctx: AppContext,
  port: number,
  host = '0.0.0.0',
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const json = (status: number, body: object) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.method === 'GET' && path === '/healthz') return json(200, { status: 'ok' });
    if (req.method === 'GET' && path === '/readyz') {
      void readiness(ctx).then((r) =>
        json(r.ok ? 200 : 503, { status: r.ok ? 'ready' : 'unavailable', checks: r.checks }),
      );
      return;
    }
    const access = metricsAccess(ctx.config, req.headers.authorization);
    if (req.method !== 'GET' || !['/metrics', '/backlog'].includes(path) || access === 'disabled') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    } else if (access === 'unauthorized') {
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('unauthorized\n');
    } else {
      const answer =
        path === '/backlog'
          ? backlogs(ctx.redis, ctx.queues, ctx.clock.now()).then((b) => ['application/json', JSON.stringify(b)])
          : renderMetrics(ctx).then((text) => [METRICS_CONTENT_TYPE, text]);
      answer.then(
        ([type, body]) => res.writeHead(200, { 'content-type': type }).end(body),
        (err: Error) => {
          ctx.logger.warn({ err: err.message, path }, 'metrics read failed');
          res.writeHead(503, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
        },
      );
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve({ server, port: (server.address() as AddressInfo).port }));
  });
}

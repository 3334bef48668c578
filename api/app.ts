import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import express, { type Express } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import type { AppContext } from '../core/platform/context';
import { buildOpenApiDocument } from './openapi';
import { errorHandler, HttpError, sendProblem } from './problem';
import { accountRoutes } from './routes/accounts';
import { operationsRoutes } from './routes/operations';
import { oversightRoutes } from './routes/oversight';
import { orderRoutes } from './routes/orders';
import { paymentRoutes } from './routes/payments';
import { photoRoutes } from './routes/photos';
import { consentRoutes } from './routes/consent';
import { marketingRoutes } from './routes/marketing';
import { portfolioRoutes } from './routes/portfolio';
import { rightsRoutes } from './routes/rights';
import { staffRoutes } from './routes/staff';
import { breachRoutes } from './routes/breaches';
import { policyRoutes } from './routes/policy';
import { inquiryRoutes } from './routes/inquiries';
import { organisationRoutes } from './routes/organisations';
import { corsAllowList } from './cors';
import { mountWebClient } from './web-client';
import { httpMetrics, metricsRoutes } from './routes/metrics';

const require = createRequire(import.meta.url);

export function createApp(ctx: AppContext): Express {
  const app = express();
  app.locals.ctx = ctx;
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  app.set('query parser', 'simple');

  app.use(httpMetrics);
  app.use(
    pinoHttp({
      logger: ctx.logger,
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(given) ? given : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      // Only method, path (no query string) and status: nothing that could carry personal data.
      serializers: {
        req: (req: { id: string; method: string; url: string }) => ({
          id: req.id,
          method: req.method,
          path: req.url.split('?')[0],
        }),
        res: (res: { statusCode: number }) => ({ status: res.statusCode }),
      },
      autoLogging: { ignore: (req) => req.url === '/healthz' },
    }),
  );
  // Security headers everywhere but the two HTML dashboards (their inline scripts); images that a
  // front end on another allowed origin shows in <img> (signed downloads, the portfolio, style
  // previews) may be embedded.
  const secure = helmet();
  const embeddable = helmet({ crossOriginResourcePolicy: { policy: 'cross-origin' } });
  app.use((req, res, next) => {
    if (req.path.startsWith('/docs') || req.path.startsWith('/admin/queues')) return next();
    const image =
      req.path.startsWith('/v1/downloads/') ||
      req.path.startsWith('/v1/thumbnails/') ||
      /^\/v1\/(portfolio\/[^/]+\/image|styles\/[^/]+\/preview)$/.test(req.path);
    return (image ? embeddable : secure)(req, res, next);
  });
  app.use(corsAllowList(ctx.config.CORS_ORIGINS));
  // JSON bodies are parsed by the routes that take one (api/route.ts); the payment webhook reads its raw bytes.

  const router = express.Router();
  paymentRoutes(router);
  accountRoutes(router);
  photoRoutes(router);
  orderRoutes(router);
  consentRoutes(router);
  marketingRoutes(router);
  portfolioRoutes(router);
  rightsRoutes(router);
  staffRoutes(router);
  breachRoutes(router);
  policyRoutes(router);
  inquiryRoutes(router);
  organisationRoutes(router);
  oversightRoutes(router);
  operationsRoutes(router, ctx);
  metricsRoutes(router);
  app.use(router);

  const document = buildOpenApiDocument(ctx.publicUrl);
  app.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  // The reference page is served from the swagger-ui-dist package, not a CDN.
  // absolute-path.js only: the package's index also evaluates the browser bundle (+42 MB RSS measured).
  const swaggerDir = (require('swagger-ui-dist/absolute-path.js') as () => string)();
  app.get('/docs', (_req, res) => {
    res
      .type('html')
      .send(`<!doctype html><html><head><title>Rasmi API</title><link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="ui"></div><script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>`);
  });
  app.get('/docs/init.js', (_req, res) => {
    res.type('js').send(`window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#ui' });`);
  });
  app.use('/docs/assets', express.static(swaggerDir, { index: false }));

  if (ctx.config.NODE_ENV !== 'production') mountWebClient(app);

  app.use((req, res) =>
    sendProblem(res, new HttpError(404, 'route_not_found', 'Not found', `No route ${req.method} ${req.path}.`)),
  );
  app.use(errorHandler);
  return app;
}

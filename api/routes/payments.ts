import express, { type Router } from 'express';
import { receivePaymentEvent } from '../../core/orders/payments';
import { ctxOf } from '../auth';
import { registry, z } from '../openapi';
import { ProblemSchema } from '../problem';
import { HEADERS_TOO_LARGE } from '../route';

/** The processor's signed webhook (PY3; core/orders/payments.ts). Card data never arrives here (PY1). */
export function paymentRoutes(router: Router): void {
  registry.registerPath({
    method: 'post',
    path: '/v1/payments/webhook',
    operationId: 'receivePaymentWebhook',
    summary: 'Payment processor webhook (Stripe-compatible signature)',
    tags: ['Payments'],
    security: [{ webhookSignature: [] }],
    request: {
      body: {
        content: {
          'application/json': {
            schema: z.object({ id: z.string(), type: z.string(), data: z.object({}).passthrough() }),
          },
        },
      },
    },
    responses: {
      200: {
        description: 'Accepted (also for a replay, which changes nothing)',
        content: { 'application/json': { schema: z.object({ received: z.boolean(), duplicate: z.boolean() }) } },
      },
      400: {
        description: 'webhook_signature_invalid, webhook_timestamp_stale, webhook_payload_invalid, bad_request',
        content: { 'application/problem+json': { schema: ProblemSchema } },
      },
      404: {
        description: 'payment_unknown: not (yet) known here; the processor retries',
        content: { 'application/problem+json': { schema: ProblemSchema } },
      },
      413: { description: 'body_too_large', content: { 'application/problem+json': { schema: ProblemSchema } } },
      431: HEADERS_TOO_LARGE,
    },
  });

  router.post('/v1/payments/webhook', express.raw({ type: '*/*', limit: '256kb' }), async (req, res, next) => {
    try {
      const { duplicate } = await receivePaymentEvent(ctxOf(req), req.body as Buffer, req.header('stripe-signature'));
      res.json({ received: true, duplicate });
    } catch (err) {
      next(err);
    }
  });
}

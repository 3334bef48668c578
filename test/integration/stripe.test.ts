import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../../core/platform/payment-processor';
import { startFakeStripe } from '../support/fake-stripe';
import { fixture, footprint, signUp, startStack, type Stack, uploadJudged } from '../support/stack';

let stack: Stack;
let stripe: Awaited<ReturnType<typeof startFakeStripe>>;
let token: string;
let photoId: string;

beforeAll(async () => {
  stripe = await startFakeStripe('sk_test_rasmi');
  stack = await startStack({
    role: 'api',
    env: { PAYMENT_PROCESSOR: 'stripe', STRIPE_SECRET_KEY: 'sk_test_rasmi', STRIPE_API_URL: stripe.url },
  });
  ({ token } = await signUp(stack));
  photoId = (await uploadJudged(stack, token, await fixture('astronaut.png'))).id;
});
afterAll(async () => {
  await stack?.stop();
  await stripe?.close();
});

describe('the Stripe processor through the official SDK', () => {
  it('PY1 creates a payment intent for the order amount; only its id and client secret come back, never card data', async () => {
    const res = await stack.api('POST', '/v1/orders', {
      token,
      json: { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [photoId] },
    });
    expect(res.status).toBe(201);
    expect(res.body.payment.processor).toBe('stripe');
    expect(res.body.payment.client_secret).toMatch(/^pi_[0-9a-f]+_secret_/);
    const sent = stripe.created.at(-1)!;
    expect(sent).toMatchObject({ amount: 1900, currency: 'eur', metadata: { order_id: res.body.order.id } });
    // The payment id is the idempotency key: a retried create never charges twice.
    expect(sent.idempotencyKey).toBe(sent.metadata.payment_id);
    const payment = await stack.ctx.db
      .selectFrom('payments')
      .selectAll()
      .where('order_id', '=', res.body.order.id)
      .executeTakeFirstOrThrow();
    expect(payment.processor_ref).toMatch(/^pi_/);

    // Stripe's signed webhook for that intent marks the order paid.
    const body = JSON.stringify({
      id: 'evt_stripe_1',
      type: 'payment_intent.succeeded',
      data: { object: { id: payment.processor_ref, object: 'payment_intent', amount: 1900, currency: 'eur' } },
    });
    const hook = await stack.api('POST', '/v1/payments/webhook', {
      body,
      headers: {
        'content-type': 'application/json',
        'stripe-signature': signWebhook(body, stack.config.PAYMENT_WEBHOOK_SECRET, stack.clock.now()),
      },
    });
    expect(hook.status).toBe(200);
    expect((await stack.api('GET', `/v1/orders/${res.body.order.id}`, { token })).body.status).toBe('processing');
  });

  it('PY1 when the processor fails, the order is withdrawn with 502 and nothing is left behind', async () => {
    const before = await footprint(stack);
    stripe.failNextRequests(10);
    const res = await stack.api('POST', '/v1/orders', {
      token,
      json: { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [photoId] },
    });
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('payment_processor_unavailable');
    expect(await footprint(stack)).toEqual(before);
    stripe.failNextRequests(0);
  });
});

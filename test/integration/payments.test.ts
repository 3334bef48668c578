import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../../core/platform/payment-processor';
import { fixture, footprint, signUp, startStack, type Stack, uploadJudged } from '../support/stack';

let stack: Stack;
let token: string;
let photoId: string;
beforeAll(async () => {
  // API only, and the local processor does not confirm by itself: these tests send the webhooks.
  stack = await startStack({ role: 'api', env: { LOCAL_PAYMENT_AUTO_CONFIRM: 'false' } });
  ({ token } = await signUp(stack));
  photoId = (await uploadJudged(stack, token, await fixture('astronaut.png'))).id;
});
afterAll(async () => {
  await stack?.stop();
});

async function newOrder() {
  const res = await stack.api('POST', '/v1/orders', {
    token,
    json: { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [photoId] },
  });
  expect(res.status).toBe(201);
  const payment = await stack.ctx.db
    .selectFrom('payments')
    .selectAll()
    .where('order_id', '=', res.body.order.id)
    .executeTakeFirstOrThrow();
  return { orderId: res.body.order.id as string, ref: payment.processor_ref, amount: payment.amount_cents };
}

function event(ref: string, amount: number, id = `evt_${Math.random().toString(36).slice(2)}`) {
  return JSON.stringify({
    id,
    type: 'payment_intent.succeeded',
    data: { object: { id: ref, object: 'payment_intent', amount, currency: 'eur' } },
  });
}

const send = (body: string, signature: string) =>
  stack.api('POST', '/v1/payments/webhook', {
    body,
    headers: { 'content-type': 'application/json', 'stripe-signature': signature },
  });
const status = async (orderId: string) => (await stack.api('GET', `/v1/orders/${orderId}`, { token })).body.status;

describe('payment webhooks', () => {
  it('PY3 a correctly signed, fresh webhook marks the order paid and queues its renders', async () => {
    const o = await newOrder();
    const before = await footprint(stack);
    const body = event(o.ref, o.amount);
    const res = await send(body, signWebhook(body, stack.config.PAYMENT_WEBHOOK_SECRET, stack.clock.now()));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ received: true, duplicate: false });
    // Paid: received, and at once processing, as its photos were judged at upload.
    expect(await status(o.orderId)).toBe('processing');
    expect((await footprint(stack)).jobs).toBeGreaterThan(before.jobs);
    expect(await stack.ctx.queues.byName.rendering.getJobCountByTypes('wait', 'prioritized')).toBeGreaterThan(0);
  });

  it('PY3 a bad signature changes nothing', async () => {
    const o = await newOrder();
    const before = await footprint(stack);
    const body = event(o.ref, o.amount);
    const res = await send(body, signWebhook(body, 'whsec_someone_elses_secret_value', stack.clock.now()));
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('webhook_signature_invalid');
    expect(await status(o.orderId)).toBe('awaiting_payment');
    expect(await footprint(stack)).toEqual(before);
  });

  it('PY3 a body altered after signing changes nothing', async () => {
    const o = await newOrder();
    const signed = event(o.ref, 1);
    const res = await send(
      event(o.ref, o.amount),
      signWebhook(signed, stack.config.PAYMENT_WEBHOOK_SECRET, stack.clock.now()),
    );
    expect(res.body.code).toBe('webhook_signature_invalid');
    expect(await status(o.orderId)).toBe('awaiting_payment');
  });

  it('PY3 a stale timestamp (older than the tolerance) changes nothing', async () => {
    const o = await newOrder();
    const body = event(o.ref, o.amount);
    const old = new Date(stack.clock.now().getTime() - (stack.config.PAYMENT_WEBHOOK_TOLERANCE_SECONDS + 60) * 1000);
    const res = await send(body, signWebhook(body, stack.config.PAYMENT_WEBHOOK_SECRET, old));
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('webhook_timestamp_stale');
    expect(await status(o.orderId)).toBe('awaiting_payment');
  });

  it('PY3 a replayed webhook is acknowledged and changes nothing', async () => {
    const o = await newOrder();
    const body = event(o.ref, o.amount);
    expect((await send(body, signWebhook(body, stack.config.PAYMENT_WEBHOOK_SECRET, stack.clock.now()))).status).toBe(
      200,
    );
    const before = await footprint(stack);
    const paidAt = (
      await stack.ctx.db.selectFrom('orders').select('paid_at').where('id', '=', o.orderId).executeTakeFirstOrThrow()
    ).paid_at;
    stack.clock.advance(60_000);
    const replay = await send(body, signWebhook(body, stack.config.PAYMENT_WEBHOOK_SECRET, stack.clock.now()));
    expect(replay.status).toBe(200);
    expect(replay.body.duplicate).toBe(true);
    expect(await footprint(stack)).toEqual(before);
    const after = await stack.ctx.db
      .selectFrom('orders')
      .select('paid_at')
      .where('id', '=', o.orderId)
      .executeTakeFirstOrThrow();
    expect(after.paid_at).toEqual(paidAt);
  });

  it('PY3 an amount that does not match the order does not mark it paid', async () => {
    const o = await newOrder();
    const body = event(o.ref, 1);
    expect((await send(body, signWebhook(body, stack.config.PAYMENT_WEBHOOK_SECRET, stack.clock.now()))).status).toBe(
      200,
    );
    expect(await status(o.orderId)).toBe('awaiting_payment');
  });

  it('PY1 the order answer and the stored payment carry no card data', async () => {
    const res = await stack.api('POST', '/v1/orders', {
      token,
      json: { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [photoId] },
    });
    expect(Object.keys(res.body.payment).sort()).toEqual(['client_secret', 'processor']);
    const cols = Object.keys(await stack.ctx.db.selectFrom('payments').selectAll().executeTakeFirstOrThrow());
    expect(cols.filter((c) => /card|pan|cvc|cvv|expiry|exp_/.test(c))).toEqual([]);
  });

  it('an Idempotency-Key retry returns the first order instead of creating a second', async () => {
    const json = { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [photoId] };
    const headers = { 'idempotency-key': 'order-retry-0001' };
    const first = await stack.api('POST', '/v1/orders', { token, json, headers });
    const before = await footprint(stack);
    const retry = await stack.api('POST', '/v1/orders', { token, json, headers });
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.body.order.id).toBe(first.body.order.id);
    expect(await footprint(stack)).toEqual(before);
    const other = await stack.api('POST', '/v1/orders', {
      token,
      json: { ...json, package_id: 'professional' },
      headers,
    });
    expect(other.status).toBe(422);
    expect(other.body.code).toBe('idempotency_key_reused');
  });
});

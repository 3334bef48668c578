import { randomBytes } from 'node:crypto';
import { startJsonServer } from './json-server';

export interface CreatedIntent {
  amount: number;
  currency: string;
  metadata: Record<string, string>;
  idempotencyKey: string | undefined;
}

export interface CreatedRefund {
  id: string;
  payment_intent: string;
  amount: number;
  metadata: Record<string, string>;
  idempotencyKey: string | undefined;
}

/**
 * A local HTTP server that speaks the part of Stripe's API Rasmi calls (POST /v1/payment_intents
 * and POST /v1/refunds, form-encoded, Bearer secret key, Idempotency-Key: a repeated key answers
 * the first result and creates nothing), so the official stripe SDK runs in tests.
 */
export async function startFakeStripe(secretKey: string) {
  const created: CreatedIntent[] = [];
  const refunds: CreatedRefund[] = [];
  const intents = new Map<string, { amount: number; refunded: number }>();
  const byKey = new Map<string, unknown>();
  let failNext = 0;
  const server = await startJsonServer((req, body, reply) => {
    if (req.headers.authorization !== `Bearer ${secretKey}`)
      return reply(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } });
    if (req.method !== 'POST' || (req.url !== '/v1/payment_intents' && req.url !== '/v1/refunds'))
      return reply(404, { error: { type: 'invalid_request_error', message: 'Unrecognized request URL' } });
    if (failNext > 0) {
      failNext--;
      return reply(500, { error: { type: 'api_error', message: 'An unknown error occurred' } });
    }
    const key = req.headers['idempotency-key'] as string | undefined;
    if (key && byKey.has(key)) return reply(200, byKey.get(key));
    const form = new URLSearchParams(body);
    const metadata: Record<string, string> = {};
    for (const [k, v] of form) {
      const m = /^metadata\[(.+)\]$/.exec(k);
      if (m) metadata[m[1]] = v;
    }
    let answer: Record<string, unknown>;
    if (req.url === '/v1/refunds') {
      // As Stripe: the intent must exist, and refunds never exceed what it charged.
      const pi = form.get('payment_intent') ?? '';
      const intent = intents.get(pi);
      const amount = Number(form.get('amount') ?? intent?.amount ?? 0);
      if (!intent)
        return reply(400, {
          error: {
            type: 'invalid_request_error',
            code: 'resource_missing',
            message: `No such payment_intent: '${pi}'`,
          },
        });
      if (intent.refunded + amount > intent.amount)
        return reply(400, {
          error: {
            type: 'invalid_request_error',
            code: 'charge_already_refunded',
            message: 'Refund amount is greater than unrefunded amount on charge',
          },
        });
      intent.refunded += amount;
      const refund = {
        id: `re_${randomBytes(8).toString('hex')}`,
        payment_intent: pi,
        amount,
        metadata,
        idempotencyKey: key,
      };
      refunds.push(refund);
      answer = { ...refund, object: 'refund', currency: 'eur', status: 'succeeded' };
    } else {
      const intent = {
        amount: Number(form.get('amount')),
        currency: form.get('currency')!,
        metadata,
        idempotencyKey: key,
      };
      created.push(intent);
      const id = `pi_${randomBytes(8).toString('hex')}`;
      intents.set(id, { amount: intent.amount, refunded: 0 });
      answer = {
        id,
        object: 'payment_intent',
        amount: intent.amount,
        currency: intent.currency,
        status: 'requires_payment_method',
        client_secret: `${id}_secret_${randomBytes(6).toString('hex')}`,
        metadata,
      };
    }
    if (key) byKey.set(key, answer);
    reply(200, answer);
  });
  return {
    ...server,
    created,
    refunds,
    failNextRequests(n: number) {
      failNext = n;
    },
  };
}

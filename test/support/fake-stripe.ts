import { randomBytes } from 'node:crypto';
import { startJsonServer } from './json-server';

export interface CreatedIntent {
  amount: number;
  currency: string;
  metadata: Record<string, string>;
  idempotencyKey: string | undefined;
}

/**
 * A local HTTP server that speaks the part of Stripe's API Rasmi calls (POST /v1/payment_intents,
 * form-encoded, Bearer secret key, Idempotency-Key), so the official stripe SDK runs in tests.
 */
export async function startFakeStripe(secretKey: string) {
  const created: CreatedIntent[] = [];
  const byKey = new Map<string, unknown>();
  let failNext = 0;
  const server = await startJsonServer((req, body, reply) => {
    if (req.headers.authorization !== `Bearer ${secretKey}`) return reply(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } });
    if (req.method !== 'POST' || req.url !== '/v1/payment_intents') return reply(404, { error: { type: 'invalid_request_error', message: 'Unrecognized request URL' } });
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
    const intent = { amount: Number(form.get('amount')), currency: form.get('currency')!, metadata, idempotencyKey: key };
    created.push(intent);
    const id = `pi_${randomBytes(8).toString('hex')}`;
    const answer = { id, object: 'payment_intent', amount: intent.amount, currency: intent.currency, status: 'requires_payment_method', client_secret: `${id}_secret_${randomBytes(6).toString('hex')}`, metadata };
    if (key) byKey.set(key, answer);
    reply(200, answer);
  });
  return {
    ...server,
    created,
    failNextRequests(n: number) {
      failNext = n;
    },
  };
}

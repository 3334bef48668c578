import Stripe from 'stripe';
import { z } from 'zod';
import type { Config } from './config';
import { randomToken } from './crypto';

/**
 * Payment processors. Card data never reaches Rasmi (PY1): a processor returns a reference and a
 * client secret for the front end, and confirms through a signed webhook (PY3).
 */
export interface PaymentIntent {
  processorRef: string;
  clientSecret: string;
}

export interface RefundRequest {
  /** Rasmi's refund id: the processor's idempotency key, so a retried job refunds once. */
  refundId: string;
  /** The processor's reference of the payment being refunded (a PaymentIntent id). */
  paymentRef: string;
  amountCents: number;
  currency: string;
}

export interface PaymentProcessor {
  readonly name: 'local' | 'stripe';
  createPayment(input: {
    paymentId: string;
    orderId: string;
    amountCents: number;
    currency: string;
  }): Promise<PaymentIntent>;
  /** Returns part (or all) of a payment; answers the processor's reference of the refund. */
  refund(input: RefundRequest): Promise<{ processorRef: string }>;
}

/** The event shape Rasmi acts on, as the processor signs it (Stripe's format). */
export interface PaymentEvent {
  id: string;
  type: string;
  data: { object: { id: string; object: string; amount?: number; currency?: string } };
}

/** Printable ASCII, as the processor's ids are: nothing else reaches a query (a NUL would make Postgres fail). */
const ProcessorId = z.string().regex(/^[\x21-\x7e]{1,255}$/);
const SignedEvent = z.object({
  id: ProcessorId,
  type: ProcessorId,
  data: z.object({
    object: z.object({
      id: ProcessorId,
      object: ProcessorId,
      amount: z.number().int().optional(),
      currency: z
        .string()
        .regex(/^[A-Za-z]{3}$/)
        .optional(),
    }),
  }),
});

export class WebhookRejected extends Error {
  constructor(
    readonly code: 'webhook_signature_invalid' | 'webhook_timestamp_stale' | 'webhook_payload_invalid',
    message: string,
  ) {
    super(message);
  }
}

/** Stripe-compatible: HMAC-SHA256 over "timestamp.body", tolerance in seconds, constant-time compare. */
export function verifyWebhook(
  rawBody: Buffer,
  header: string | undefined,
  secret: string,
  toleranceSeconds: number,
  now: Date,
): PaymentEvent {
  if (!header) throw new WebhookRejected('webhook_signature_invalid', 'The Stripe-Signature header is missing.');
  const nowSeconds = Math.floor(now.getTime() / 1000);
  const stamp = Number(/(?:^|,)t=(\d+)/.exec(header)?.[1]);
  if (Number.isFinite(stamp) && Math.abs(nowSeconds - stamp) > toleranceSeconds) {
    throw new WebhookRejected('webhook_timestamp_stale', 'The webhook timestamp is outside the tolerance.');
  }
  let signed: unknown;
  try {
    signed = Stripe.webhooks.constructEvent(rawBody, header, secret, toleranceSeconds, undefined, nowSeconds);
  } catch {
    throw new WebhookRejected('webhook_signature_invalid', 'The webhook signature does not match.');
  }
  // Signed, so from the processor; still checked before any of it reaches a query.
  const parsed = SignedEvent.safeParse(signed);
  if (!parsed.success)
    throw new WebhookRejected('webhook_payload_invalid', 'The webhook event is not a payment event Rasmi can read.');
  return parsed.data as PaymentEvent;
}

export function signWebhook(payload: string, secret: string, at: Date): string {
  return Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: Math.floor(at.getTime() / 1000) });
}

/**
 * Development and tests only: accepts every payment and, shortly after, posts a signed
 * payment_intent.succeeded to the API's own webhook, so the real verification path runs.
 */
export class LocalProcessor implements PaymentProcessor {
  readonly name = 'local' as const;
  private timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly webhookUrl: () => string,
    private readonly secret: string,
    private readonly now: () => Date,
    private readonly autoConfirm = true,
    private readonly delayMs = 50,
  ) {}

  async createPayment(input: { amountCents: number; currency: string }): Promise<PaymentIntent> {
    const processorRef = `pi_local_${randomToken(12)}`;
    const event: PaymentEvent = {
      id: `evt_local_${randomToken(12)}`,
      type: 'payment_intent.succeeded',
      data: {
        object: {
          id: processorRef,
          object: 'payment_intent',
          amount: input.amountCents,
          currency: input.currency.toLowerCase(),
        },
      },
    };
    if (this.autoConfirm) this.deliver(event, 8, this.delayMs);
    return { processorRef, clientSecret: `${processorRef}_secret_local` };
  }

  /** Records the refund (in memory, beside the refunds row the caller keeps); the same id answers the same reference. */
  readonly refunds = new Map<string, RefundRequest & { processorRef: string }>();
  async refund(input: RefundRequest): Promise<{ processorRef: string }> {
    const known = this.refunds.get(input.refundId);
    if (known) return { processorRef: known.processorRef };
    const processorRef = `re_local_${randomToken(12)}`;
    this.refunds.set(input.refundId, { ...input, processorRef });
    return { processorRef };
  }

  /**
   * Posts the signed event; like a real processor, retries with growing delays while it is not
   * accepted (the order's transaction may still be open: 50 ms doubling gives it about 13 s).
   */
  private deliver(event: PaymentEvent, triesLeft: number, delayMs: number): void {
    const timer = setTimeout(async () => {
      this.timers.delete(timer);
      const body = JSON.stringify(event);
      const ok = await fetch(this.webhookUrl(), {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': signWebhook(body, this.secret, this.now()) },
        body,
      }).then(
        (r) => r.ok,
        () => false,
      );
      if (!ok && triesLeft > 1) this.deliver(event, triesLeft - 1, delayMs * 2);
    }, delayMs);
    this.timers.add(timer);
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

export class StripeProcessor implements PaymentProcessor {
  readonly name = 'stripe' as const;
  private readonly stripe: Stripe;
  /** apiUrl points the official SDK at another host (tests use a local server that speaks Stripe's API). */
  constructor(secretKey: string, apiUrl?: string) {
    const u = apiUrl ? new URL(apiUrl) : undefined;
    // Bounded: an order holds a database connection while it asks for the payment (its rows and
    // the payment reference commit together), so a slow Stripe must not hold it for minutes (the
    // SDK's default is 80 s a try).
    const limits = { maxNetworkRetries: 1, timeout: 10_000 };
    this.stripe = new Stripe(
      secretKey,
      u
        ? {
            host: u.hostname,
            port: u.port || (u.protocol === 'https:' ? 443 : 80),
            protocol: u.protocol === 'https:' ? 'https' : 'http',
            ...limits,
          }
        : limits,
    );
  }

  async createPayment(input: {
    paymentId: string;
    orderId: string;
    amountCents: number;
    currency: string;
  }): Promise<PaymentIntent> {
    const intent = await this.stripe.paymentIntents.create(
      {
        amount: input.amountCents,
        currency: input.currency.toLowerCase(),
        automatic_payment_methods: { enabled: true },
        metadata: { order_id: input.orderId, payment_id: input.paymentId },
      },
      { idempotencyKey: input.paymentId },
    );
    return { processorRef: intent.id, clientSecret: intent.client_secret ?? '' };
  }

  async refund(input: RefundRequest): Promise<{ processorRef: string }> {
    const refund = await this.stripe.refunds.create(
      {
        payment_intent: input.paymentRef,
        amount: input.amountCents,
        reason: 'requested_by_customer',
        metadata: { refund_id: input.refundId },
      },
      { idempotencyKey: input.refundId },
    );
    return { processorRef: refund.id };
  }
}

export function createProcessor(config: Config, webhookUrl: () => string, now: () => Date): PaymentProcessor {
  if (config.PAYMENT_PROCESSOR === 'stripe')
    return new StripeProcessor(config.STRIPE_SECRET_KEY!, config.STRIPE_API_URL);
  if (config.NODE_ENV === 'production') throw new Error('the local payment processor refuses to load in production');
  return new LocalProcessor(webhookUrl, config.PAYMENT_WEBHOOK_SECRET, now, config.LOCAL_PAYMENT_AUTO_CONFIRM);
}

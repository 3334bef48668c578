import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * How Rasmi signs an organisation's webhooks, as the payment processor signs its own: the header
 * `Rasmi-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` under the
 * endpoint's secret. A receiver recomputes it over the raw bytes, compares in constant time and
 * refuses a timestamp outside its tolerance (a replayed old delivery).
 */
export const SIGNATURE_HEADER = 'rasmi-signature';

export function signTeamWebhook(body: string, secret: string, at: Date): string {
  const t = Math.floor(at.getTime() / 1000);
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

export type SignatureCheck = 'ok' | 'signature_invalid' | 'timestamp_stale';

export function verifyTeamWebhook(
  body: string | Buffer,
  header: string | undefined,
  secret: string,
  toleranceSeconds: number,
  now: Date,
): SignatureCheck {
  const t = Number(/(?:^|,)t=(\d+)/.exec(header ?? '')?.[1]);
  const sigs = [...(header ?? '').matchAll(/(?:^|,)v1=([0-9a-f]{64})/g)].map((m) => Buffer.from(m[1], 'hex'));
  if (!Number.isFinite(t) || !sigs.length) return 'signature_invalid';
  const expected = createHmac('sha256', secret).update(`${t}.`).update(body).digest();
  if (!sigs.some((s) => s.length === expected.length && timingSafeEqual(s, expected))) return 'signature_invalid';
  if (Math.abs(Math.floor(now.getTime() / 1000) - t) > toleranceSeconds) return 'timestamp_stale';
  return 'ok';
}

import { sql } from 'kysely';
import type { AppContext } from '../platform/context';
import { decryptField, encryptField, newId, randomToken } from '../platform/crypto';
import { jobId } from '../platform/jobs';
import { DomainError } from '../platform/errors';
import { requireAdmin } from './access';
import { signTeamWebhook } from './webhook-signature';

/**
 * Signed webhooks to an organisation's own systems (an HR system picking up new headshots): member
 * joined, headshots shared, headshot approved. The payload carries ids only (as job payloads do):
 * the receiver reads the rest through the API with an admin's token, under the same rules. Each
 * event is a delivery row; a `team.webhook` job makes one attempt, and a failed attempt sets the
 * next one's time with exponential backoff in the row, which the `sweep.team-webhooks` sweep
 * picks up when due (deadlines in Postgres: a flushed Redis loses nothing, a test moves the clock).
 */
export const WEBHOOK_EVENTS = ['member.joined', 'headshots.shared', 'headshot.approved'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** Attempts before a delivery is given up (failed); the delay before attempt n+1 is BASE x 4^(n-1), at most a day. */
export const WEBHOOK_MAX_ATTEMPTS = 8;
export const WEBHOOK_BACKOFF_BASE_MS = 60_000;
const WEBHOOK_BACKOFF_MAX_MS = 24 * 3600_000;
const TIMEOUT_MS = 10_000;

export const backoffAfter = (attempts: number) =>
  Math.min(WEBHOOK_BACKOFF_BASE_MS * 4 ** Math.max(0, attempts - 1), WEBHOOK_BACKOFF_MAX_MS);

/** Sets (or clears) the endpoint; a new secret is made each time and shown once. */
export async function setWebhook(
  ctx: AppContext,
  userId: string,
  organisationId: string,
  url: string | null,
): Promise<{ url: string | null; secret: string | null }> {
  await requireAdmin(ctx, organisationId, userId);
  if (url !== null) {
    const u = new URL(url);
    // Plain http only outside production (a local receiver in development and tests).
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && ctx.config.NODE_ENV !== 'production')) {
      throw new DomainError(
        422,
        'webhook_url_invalid',
        'Webhook address not allowed',
        'The webhook address must be https.',
      );
    }
  }
  const secret = url ? `whsec_${randomToken(24)}` : null;
  await ctx.db
    .updateTable('organisations')
    .set({ webhook_url: url, webhook_secret_enc: secret ? encryptField(ctx.pii, secret) : null })
    .where('id', '=', organisationId)
    .execute();
  return { url, secret };
}

/** Records an event for the organisation's endpoint (if it has one) and queues its first attempt. */
export async function queueWebhook(
  ctx: AppContext,
  organisationId: string,
  event: WebhookEvent,
  data: Record<string, unknown>,
): Promise<void> {
  const org = await ctx.db
    .selectFrom('organisations')
    .select('webhook_url')
    .where('id', '=', organisationId)
    .executeTakeFirst();
  if (!org?.webhook_url) return;
  const id = newId('whd');
  const now = ctx.clock.now();
  const payload = { id, type: event, created_at: now.toISOString(), organisation_id: organisationId, data };
  await ctx.db
    .insertInto('webhook_deliveries')
    .values({
      id,
      organisation_id: organisationId,
      event,
      payload: JSON.stringify(payload),
      status: 'pending',
      next_attempt_at: now,
      created_at: now,
    })
    .execute();
  await ctx.queues.enqueue('team.webhook', { deliveryId: id }, { jobId: jobId('webhook', id, '0') });
}

/**
 * One attempt at a due delivery. A 2xx delivers it; anything else (a status, a refused connection,
 * a timeout) is logged on the row and the next attempt is set, or the delivery fails for good.
 * Never throws for the receiver's failure: the row, not BullMQ, holds the retry.
 */
export async function attemptDelivery(ctx: AppContext, deliveryId: string): Promise<void> {
  const d = await ctx.db
    .selectFrom('webhook_deliveries')
    .innerJoin('organisations', 'organisations.id', 'webhook_deliveries.organisation_id')
    .select([
      'webhook_deliveries.id',
      'webhook_deliveries.status',
      'webhook_deliveries.attempts',
      'webhook_deliveries.next_attempt_at',
      'webhook_deliveries.payload',
      'webhook_deliveries.event',
      'organisations.webhook_url',
      'organisations.webhook_secret_enc',
    ])
    .where('webhook_deliveries.id', '=', deliveryId)
    .executeTakeFirst();
  const now = ctx.clock.now();
  if (!d || d.status !== 'pending' || (d.next_attempt_at && new Date(d.next_attempt_at).getTime() > now.getTime()))
    return;
  const attempts = d.attempts + 1;
  if (!d.webhook_url || !d.webhook_secret_enc) {
    await ctx.db
      .updateTable('webhook_deliveries')
      .set({ status: 'failed', attempts, last_error: 'the organisation removed its webhook', next_attempt_at: null })
      .where('id', '=', d.id)
      .execute();
    return;
  }
  const body = JSON.stringify(d.payload);
  let status: number | null = null;
  let error: string | null = null;
  try {
    const res = await fetch(d.webhook_url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'rasmi-signature': signTeamWebhook(body, decryptField(ctx.pii, d.webhook_secret_enc), now),
        'rasmi-event': d.event,
        'rasmi-delivery': d.id,
        'user-agent': 'Rasmi-Webhooks/1',
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    status = res.status;
    await res.body?.cancel();
    if (res.status < 200 || res.status >= 300) error = `answered ${res.status}`;
  } catch (err) {
    error = (err as Error).name === 'TimeoutError' ? `no answer within ${TIMEOUT_MS / 1000} s` : 'could not connect';
  }
  if (!error) {
    await ctx.db
      .updateTable('webhook_deliveries')
      .set({
        status: 'delivered',
        attempts,
        last_status: status,
        last_error: null,
        delivered_at: now,
        next_attempt_at: null,
      })
      .where('id', '=', d.id)
      .where('status', '=', 'pending')
      .execute();
    return;
  }
  const giveUp = attempts >= WEBHOOK_MAX_ATTEMPTS;
  await ctx.db
    .updateTable('webhook_deliveries')
    .set({
      status: giveUp ? 'failed' : 'pending',
      attempts,
      last_status: status,
      last_error: error,
      next_attempt_at: giveUp ? null : new Date(now.getTime() + backoffAfter(attempts)),
    })
    .where('id', '=', d.id)
    .where('status', '=', 'pending')
    .execute();
}

/** The sweep: every pending delivery whose time has come gets its next attempt (job id per attempt: queued once). */
export async function sweepWebhooks(ctx: AppContext, batch = 500): Promise<number> {
  const due = await ctx.db
    .selectFrom('webhook_deliveries')
    .select(['id', 'attempts'])
    .where('status', '=', 'pending')
    .where('next_attempt_at', '<=', ctx.clock.now())
    .orderBy('next_attempt_at')
    .limit(batch)
    .execute();
  for (const d of due)
    await ctx.queues.redrive('team.webhook', { deliveryId: d.id }, jobId('webhook', d.id, String(d.attempts)));
  return due.length;
}

export async function deliveryLog(ctx: AppContext, userId: string, organisationId: string, limit: number) {
  await requireAdmin(ctx, organisationId, userId);
  return ctx.db
    .selectFrom('webhook_deliveries')
    .select([
      'id',
      'event',
      'status',
      'attempts',
      'last_status',
      'last_error',
      'next_attempt_at',
      'created_at',
      'delivered_at',
      sql<unknown>`payload`.as('payload'),
    ])
    .where('organisation_id', '=', organisationId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}

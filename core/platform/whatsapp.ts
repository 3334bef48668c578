import type { Config } from './config';
import type { AppContext } from './context';
import { decryptField, newId } from './crypto';
import { consentInForce } from '../privacy/consent-sql';

/**
 * WhatsApp notifications (SD4) through the WhatsApp Business Cloud API over HTTPS. The base URL
 * is a setting so tests talk to a local server that speaks the API. Without a token the channel
 * is off. Only the phone number and the message text leave for Meta; never the name or email.
 */

export type WhatsAppMessage = { type: 'text'; text: string } | { type: 'template'; name: string; language: string; bodyParams: string[] };

export class WhatsAppError extends Error {
  constructor(readonly status: number, readonly code: number | undefined, message: string) {
    super(message);
  }
}

export class WhatsAppClient {
  constructor(private readonly baseUrl: string, private readonly token: string, private readonly phoneNumberId: string, private readonly timeoutMs = 15_000) {}

  /** POST {base}/{phone-number-id}/messages; answers the message id (wamid). */
  async send(to: string, message: WhatsAppMessage): Promise<{ messageId: string }> {
    const body = {
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: to.replace(/^\+/, ''),
      ...(message.type === 'text'
        ? { type: 'text', text: { preview_url: false, body: message.text } }
        : { type: 'template', template: { name: message.name, language: { code: message.language }, components: [{ type: 'body', parameters: message.bodyParams.map((text) => ({ type: 'text', text })) }] } }),
    };
    const res = await fetch(`${this.baseUrl.replace(/\/+$/, '')}/${this.phoneNumberId}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const json = (await res.json().catch(() => ({}))) as { messages?: { id: string }[]; error?: { code?: number; message?: string } };
    // The API's own error message is kept, the recipient is not: logs must carry no phone number.
    if (!res.ok || !json.messages?.[0]?.id) throw new WhatsAppError(res.status, json.error?.code, `WhatsApp API answered ${res.status}: ${json.error?.message ?? 'no message id'}`);
    return { messageId: json.messages[0].id };
  }
}

const clients = new WeakMap<Config, WhatsAppClient | null>();

/** The configured client, or null when WhatsApp is not set up. */
export function whatsappClient(config: Config): WhatsAppClient | null {
  if (!clients.has(config)) {
    const on = config.WHATSAPP_TOKEN && config.WHATSAPP_PHONE_NUMBER_ID;
    clients.set(config, on ? new WhatsAppClient(config.WHATSAPP_API_URL, config.WHATSAPP_TOKEN!, config.WHATSAPP_PHONE_NUMBER_ID!) : null);
  }
  return clients.get(config)!;
}

/**
 * Sends one WhatsApp message at most once per dedupe key, and only when a phone number is on file
 * AND the person's whatsapp consent is in force at send time (SD4). The notifications row (channel
 * 'whatsapp') is claimed first, so a retried job never sends twice. Returns whether it sent.
 */
export async function sendWhatsAppOnce(ctx: AppContext, input: { userId: string; kind: string; dedupeKey: string; text: string }): Promise<boolean> {
  const client = whatsappClient(ctx.config);
  if (!client) return false;
  const user = await ctx.db
    .selectFrom('users')
    .select(['id', 'phone_enc'])
    .where('id', '=', input.userId)
    .where('status', '=', 'active')
    .where('phone_enc', 'is not', null)
    .where(consentInForce('users.id', 'whatsapp'))
    .executeTakeFirst();
  if (!user?.phone_enc) return false;
  // Email and WhatsApp share the unique dedupe_key column: the prefix keeps their keys apart.
  const claimed = await ctx.db
    .insertInto('notifications')
    .values({ id: newId('ntf'), user_id: user.id, channel: 'whatsapp', kind: input.kind, dedupe_key: `wa-${input.dedupeKey}`, status: 'sending', created_at: ctx.clock.now(), sent_at: null, provider_message_id: null })
    .onConflict((oc) => oc.column('dedupe_key').doUpdateSet({ status: 'sending' }).where('notifications.status', '=', 'failed'))
    .returning('id')
    .executeTakeFirst();
  if (!claimed) return false;
  const c = ctx.config;
  const message: WhatsAppMessage = c.WHATSAPP_TEMPLATE_NAME
    ? { type: 'template', name: c.WHATSAPP_TEMPLATE_NAME, language: c.WHATSAPP_TEMPLATE_LANGUAGE, bodyParams: [input.text] }
    : { type: 'text', text: input.text };
  try {
    const { messageId } = await client.send(decryptField(ctx.pii, user.phone_enc), message);
    await ctx.db.updateTable('notifications').set({ status: 'sent', sent_at: ctx.clock.now(), provider_message_id: messageId }).where('id', '=', claimed.id).execute();
    return true;
  } catch (err) {
    await ctx.db.updateTable('notifications').set({ status: 'failed' }).where('id', '=', claimed.id).execute();
    throw err;
  }
}

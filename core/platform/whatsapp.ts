import type { Config } from './config';

/**
 * WhatsApp notifications (SD4) through the WhatsApp Business Cloud API over HTTPS. The base URL
 * is a setting so tests talk to a local server that speaks the API. Without a token the channel
 * is off. Only the phone number and the message text leave for Meta; never the name or email.
 * Who may be sent what, once (consent in force, a dedupe key), is core/notifications/whatsapp.ts.
 */

export type WhatsAppMessage =
  | { type: 'text'; text: string }
  | { type: 'template'; name: string; language: string; bodyParams: string[] };

export class WhatsAppError extends Error {
  constructor(
    readonly status: number,
    readonly code: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

export class WhatsAppClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly phoneNumberId: string,
    private readonly timeoutMs = 15_000,
  ) {}

  /** POST {base}/{phone-number-id}/messages; answers the message id (wamid). */
  async send(to: string, message: WhatsAppMessage): Promise<{ messageId: string }> {
    const body = {
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: to.replace(/^\+/, ''),
      ...(message.type === 'text'
        ? { type: 'text', text: { preview_url: false, body: message.text } }
        : {
            type: 'template',
            template: {
              name: message.name,
              language: { code: message.language },
              components: [{ type: 'body', parameters: message.bodyParams.map((text) => ({ type: 'text', text })) }],
            },
          }),
    };
    const res = await fetch(`${this.baseUrl.replace(/\/+$/, '')}/${this.phoneNumberId}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const json = (await res.json().catch(() => ({}))) as {
      messages?: { id: string }[];
      error?: { code?: number; message?: string };
    };
    // The API's own error message is kept, the recipient is not: logs must carry no phone number.
    if (!res.ok || !json.messages?.[0]?.id)
      throw new WhatsAppError(
        res.status,
        json.error?.code,
        `WhatsApp API answered ${res.status}: ${json.error?.message ?? 'no message id'}`,
      );
    return { messageId: json.messages[0].id };
  }
}

const clients = new WeakMap<Config, WhatsAppClient | null>();

/** The configured client, or null when WhatsApp is not set up. */
export function whatsappClient(config: Config): WhatsAppClient | null {
  if (!clients.has(config)) {
    const on = config.WHATSAPP_TOKEN && config.WHATSAPP_PHONE_NUMBER_ID;
    clients.set(
      config,
      on ? new WhatsAppClient(config.WHATSAPP_API_URL, config.WHATSAPP_TOKEN!, config.WHATSAPP_PHONE_NUMBER_ID!) : null,
    );
  }
  return clients.get(config)!;
}

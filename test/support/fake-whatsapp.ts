import { startJsonServer } from './json-server';

export interface CapturedWhatsApp {
  phoneNumberId: string;
  to: string;
  type: 'text' | 'template';
  text?: { body: string };
  template?: { name: string; language: { code: string }; components?: unknown[] };
}

/**
 * A local HTTP server that speaks the WhatsApp Business Cloud API's send endpoint
 * (POST /{version}/{phone-number-id}/messages with a Bearer token), so the real client runs in
 * tests. It checks what Meta checks and records what it was sent.
 */
export async function startFakeWhatsApp(token: string, phoneNumberId: string) {
  const sent: CapturedWhatsApp[] = [];
  let failNext = 0;
  let n = 0;
  const { url, close } = await startJsonServer((req, body, reply) => {
    const error = (status: number, code: number, message: string) =>
      reply(status, { error: { message, type: 'OAuthException', code, fbtrace_id: 'fake' } });
    if (req.headers.authorization !== `Bearer ${token}`) return error(401, 190, 'Invalid OAuth access token.');
    const m = /^\/v\d+\.\d+\/(\d+)\/messages$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !m) return error(404, 100, 'Unsupported request');
    if (m[1] !== phoneNumberId) return error(400, 100, 'Object with this ID does not exist');
    if (failNext > 0) {
      failNext--;
      return error(500, 1, 'An unknown error occurred');
    }
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(body);
    } catch {
      return error(400, 100, 'Invalid JSON');
    }
    const to = String(msg.to ?? '');
    if (msg.messaging_product !== 'whatsapp') return error(400, 100, 'The parameter messaging_product is required.');
    if (!/^\d{7,15}$/.test(to)) return error(400, 131009, 'Parameter value is not valid');
    if (msg.type === 'text' && typeof (msg.text as { body?: unknown })?.body !== 'string')
      return error(400, 100, 'text.body is required');
    if (msg.type === 'template' && typeof (msg.template as { name?: unknown })?.name !== 'string')
      return error(400, 100, 'template.name is required');
    if (msg.type !== 'text' && msg.type !== 'template') return error(400, 100, 'Unsupported message type');
    sent.push({ phoneNumberId: m[1], ...(msg as object) } as CapturedWhatsApp);
    reply(200, {
      messaging_product: 'whatsapp',
      contacts: [{ input: to, wa_id: to }],
      messages: [{ id: `wamid.fake${++n}` }],
    });
  });
  return {
    url,
    sent,
    failNextRequests(count: number) {
      failNext = count;
    },
    to(phone: string) {
      return sent.filter((s) => s.to === phone.replace(/^\+/, ''));
    },
    close,
  };
}

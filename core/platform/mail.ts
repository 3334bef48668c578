import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ServerClient } from 'postmark';
import type { Config } from './config';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
  tag: string;
  headers?: Record<string, string>;
  /** Marketing goes on the broadcast stream, apart from order and account mail (Postmark's rule). */
  stream?: 'transactional' | 'broadcast';
}

export interface Mailer {
  send(message: MailMessage): Promise<{ messageId: string }>;
}

/** Postmark through its official client; the host is configurable so tests use a local server. */
export class PostmarkMailer implements Mailer {
  private readonly client: ServerClient;
  constructor(
    token: string,
    apiUrl: string,
    private readonly from: string,
    private readonly streams: Record<NonNullable<MailMessage['stream']>, string>,
  ) {
    const url = new URL(apiUrl);
    this.client = new ServerClient(token, { useHttps: url.protocol === 'https:', requestHost: url.host, timeout: 15 });
  }

  async send(m: MailMessage): Promise<{ messageId: string }> {
    const res = await this.client.sendEmail({
      From: this.from,
      To: m.to,
      Subject: m.subject,
      TextBody: m.text,
      HtmlBody: m.html,
      Tag: m.tag,
      MessageStream: this.streams[m.stream ?? 'transactional'],
      Headers: Object.entries(m.headers ?? {}).map(([Name, Value]) => ({ Name, Value })),
    });
    return { messageId: res.MessageID };
  }
}

/** Development without a Postmark token: each message is a JSON file in the outbox folder. */
export class OutboxMailer implements Mailer {
  constructor(
    private readonly dir: string,
    private readonly from: string,
  ) {}

  async send(m: MailMessage): Promise<{ messageId: string }> {
    await mkdir(this.dir, { recursive: true });
    const messageId = `outbox-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    await writeFile(path.join(this.dir, `${messageId}.json`), JSON.stringify({ from: this.from, ...m }, null, 2));
    return { messageId };
  }
}

export function createMailer(config: Config): Mailer {
  return config.POSTMARK_TOKEN
    ? new PostmarkMailer(config.POSTMARK_TOKEN, config.POSTMARK_API_URL, config.MAIL_FROM, {
        transactional: config.POSTMARK_MESSAGE_STREAM,
        broadcast: config.POSTMARK_BROADCAST_STREAM,
      })
    : new OutboxMailer(config.MAIL_OUTBOX_DIR, config.MAIL_FROM);
}

import { startJsonServer } from './json-server';

export interface CapturedEmail {
  From: string;
  To: string;
  Subject: string;
  TextBody?: string;
  HtmlBody?: string;
  Tag?: string;
  Headers?: { Name: string; Value: string }[];
  MessageStream?: string;
}

/**
 * A local HTTP server that speaks Postmark's email API (POST /email with X-Postmark-Server-Token),
 * so the real postmark client code runs in tests. It records what it was sent.
 */
export async function startFakePostmark(token: string) {
  const sent: CapturedEmail[] = [];
  let failNext = 0;
  const { url, close } = await startJsonServer((req, body, reply) => {
    if (req.headers['x-postmark-server-token'] !== token)
      return reply(401, { ErrorCode: 10, Message: 'Bad or missing Server API token.' });
    if (req.method !== 'POST' || req.url !== '/email') return reply(404, { ErrorCode: 404, Message: 'Not found' });
    if (failNext > 0) {
      failNext--;
      return reply(500, { ErrorCode: 500, Message: 'Internal server error' });
    }
    const email = JSON.parse(body) as CapturedEmail;
    if (!email.To || !email.From || !email.Subject)
      return reply(422, { ErrorCode: 300, Message: 'Invalid email request' });
    sent.push(email);
    reply(200, {
      To: email.To,
      SubmittedAt: new Date().toISOString(),
      MessageID: `pm-${sent.length}`,
      ErrorCode: 0,
      Message: 'OK',
    });
  });
  return {
    url,
    sent,
    failNextRequests(n: number) {
      failNext = n;
    },
    to(address: string) {
      return sent.filter((m) => m.To === address);
    },
    close,
  };
}

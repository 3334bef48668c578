import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type JsonReply = (status: number, json: unknown) => void;

/**
 * A local HTTP server on a free port for the fake provider APIs: each request is handed to
 * `handle` with its body read as text and a function that sends a JSON reply.
 */
export async function startJsonServer(
  handle: (req: http.IncomingMessage, body: string, reply: JsonReply) => void,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () =>
      handle(req, body, (status, json) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(json));
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { AppContext } from './context';
import type { Workers } from './workers';

export type Role = 'api' | 'worker' | 'scheduler' | 'all';

/** What a running role holds, so shutdown can close it in order: HTTP, workers, connections. */
export interface Running {
  ctx: AppContext;
  server?: Server;
  url?: string;
  workers: Workers[];
  stop(): Promise<void>;
}

/**
 * Serves the app with request and header timeouts. Node only checks them every
 * connectionsCheckingInterval (30 s by default), so a stalled client kept its connection, and an
 * upload its slot, for up to the timeout plus 30 s; checked every second they hold to within one.
 */
export function listen(
  app: Express,
  port: number,
  opts: { host?: string; timeoutSeconds?: number } = {},
): Promise<{ server: Server; port: number }> {
  const timeout = (opts.timeoutSeconds ?? 60) * 1000;
  const server = createServer(
    { requestTimeout: timeout, headersTimeout: timeout, connectionsCheckingInterval: 1000 },
    app,
  );
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, opts.host ?? '0.0.0.0', () =>
      resolve({ server, port: (server.address() as AddressInfo).port }),
    );
  });
}

export async function stopRunning(r: Omit<Running, 'stop'>): Promise<void> {
  r.ctx.shutdown.abort();
  if (r.server) {
    const server = r.server;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 10_000).unref();
    });
  }
  for (const w of r.workers) await w.close();
  await r.ctx.close();
}

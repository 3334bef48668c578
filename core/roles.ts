import type { Server } from 'node:http';
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

export function listen(app: Express, port: number, host = '0.0.0.0'): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, (err?: Error) => (err ? reject(err) : resolve({ server, port: (server.address() as AddressInfo).port })));
  });
}

export async function stopRunning(r: Omit<Running, 'stop'>): Promise<void> {
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

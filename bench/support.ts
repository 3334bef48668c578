import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../core/platform/config';
import { createLogger } from '../core/platform/logger';
import type { Role } from '../core/platform/roles';
import { startRole } from '../main';

/** A local stack on its own database, Redis prefix and S3 folder, with mail to a temp outbox. */
export async function benchStack(role: Role = 'all', env: Record<string, string> = {}) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rasmi-bench-'));
  const config = loadConfig({
    LOG_LEVEL: 'warn',
    DATABASE_URL: 'postgres://root@127.0.0.1:5432/rasmi_bench',
    QUEUE_PREFIX: `bench${process.pid}`,
    LOCAL_S3_DIR: path.join(dir, 's3'),
    MAIL_OUTBOX_DIR: path.join(dir, 'outbox'),
    // A benchmark is one client doing on purpose what the abuse limits stop.
    RATE_LIMIT_UPLOADS: '1000000',
    RATE_LIMIT_SIGN_IN: '1000000',
    ...env,
  });
  const running = await startRole(role, config, { port: 0, logger: createLogger('warn') });
  const url = running.url!;
  const api = async (method: string, p: string, init: { token?: string; json?: unknown; body?: FormData } = {}) => {
    const headers: Record<string, string> = {};
    if (init.token) headers.authorization = `Bearer ${init.token}`;
    if (init.json) headers['content-type'] = 'application/json';
    const res = await fetch(url + p, { method, headers, body: init.json ? JSON.stringify(init.json) : init.body });
    const body = res.headers.get('content-type')?.includes('json') ? await res.json() : Buffer.from(await res.arrayBuffer());
    if (!res.ok) throw new Error(`${method} ${p} → ${res.status} ${JSON.stringify(body)}`);
    return body as any;
  };
  return { ...running, config, api };
}

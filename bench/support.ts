import { mkdtemp, readdir, readFile } from 'node:fs/promises';
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
    const body = res.headers.get('content-type')?.includes('json')
      ? await res.json()
      : Buffer.from(await res.arrayBuffer());
    if (!res.ok) throw new Error(`${method} ${p} → ${res.status} ${JSON.stringify(body)}`);
    return body as any;
  };
  return { ...running, config, api };
}

/** Registers a person and signs them in with the code from the outbox; answers the bearer token. */
export async function benchSignUp(stack: Awaited<ReturnType<typeof benchStack>>, name = 'Bench'): Promise<string> {
  const email = `bench+${Date.now()}-${Math.random().toString(36).slice(2, 6)}@rasmi.local`;
  const policy = await stack.api('GET', '/v1/policy');
  await stack.api('POST', '/v1/accounts', {
    json: { email, name, confirms_adult: true, accepted_policy_version: policy.id },
  });
  // The code is only in the outbox; read it the way the service stored the mail.
  for (const f of (await readdir(stack.config.MAIL_OUTBOX_DIR)).sort().reverse()) {
    const mail = JSON.parse(await readFile(`${stack.config.MAIL_OUTBOX_DIR}/${f}`, 'utf8')) as {
      to: string;
      text: string;
    };
    const code = mail.to === email && /code is (\d{6})/.exec(mail.text)?.[1];
    if (code) return (await stack.api('POST', '/v1/auth/token', { json: { email, code } })).token as string;
  }
  throw new Error(`no sign-in code for ${email}`);
}

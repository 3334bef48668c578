import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../core/config';
import { createLogger } from '../core/logger';
import type { Role } from '../core/roles';
import { startRole } from '../main';
import sharp from 'sharp';

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export const fmt = (x: number, digits = 1) => x.toFixed(digits);

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

/**
 * A 4000x3000 selfie: the astronaut enlarged so her face (about 106 px of 512) is about 800 px
 * wide, with headroom above, at camera quality. The grain stands in for a real photo's detail:
 * without it the 7.5x enlargement is rightly rejected as blurred (sharpness 32), and the JPEG
 * would be unrealistically small (with it: about 2.9 MB).
 */
export async function twelveMegapixelSelfie(): Promise<Buffer> {
  const side = 3866; // 512 * 7.55: face about 800 px
  const top = 250;
  const body = await sharp('test/fixtures/astronaut.png').removeAlpha().resize(side, side, { kernel: 'lanczos3' }).extract({ left: 0, top: 0, width: side, height: 3000 - top }).toBuffer();
  const left = Math.floor((4000 - side) / 2);
  const base = await sharp(body).extend({ top, left, right: 4000 - side - left, bottom: 0, extendWith: 'copy' }).raw().toBuffer({ resolveWithObject: true });
  for (let i = 0; i < base.data.length; i++) base.data[i] = Math.max(0, Math.min(255, base.data[i] + ((i * 2654435761) % 13) - 6));
  return sharp(base.data, { raw: base.info }).jpeg({ quality: 92 }).toBuffer();
}

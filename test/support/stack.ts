import { NEWEST_SHIPPED_POLICY_VERSION } from '../../policies';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import { ManualClock } from '../../core/platform/clock';
import { loadConfig, type Config } from '../../core/platform/config';
import { createLogger } from '../../core/platform/logger';
import type { Role } from '../../core/platform/roles';
import { startRole } from '../../main';
import { startFakePostmark } from './fake-postmark';
import { countJobs } from './jobs';
import type { Job } from 'bullmq';
import { closePixels, pipelineHandlers } from '../../worker/handlers';

export const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');
export const fixture = (name: string) => readFile(path.join(FIXTURES, name));

/** A fresh database cloned from the migrated template; each test file gets its own. */
export async function cloneDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const adminUrl = inject('adminDatabaseUrl');
  const name = `rasmi_t_${inject('runId')}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database "${name}" template "${inject('templateDatabase')}"`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`drop database if exists "${name}" with (force)`);
      await c.end();
    },
  };
}

/** Configuration for one test file: own database, Redis prefix, buckets and mail server. */
export function testConfig(overrides: Record<string, string>): Config {
  const tag = randomBytes(4).toString('hex');
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    QUEUE_PREFIX: `t${tag}`,
    S3_ENDPOINT: inject('s3Endpoint'),
    S3_BUCKET_ORIGINALS: `t${tag}-originals`,
    S3_BUCKET_HEADSHOTS: `t${tag}-headshots`,
    JOB_ATTEMPTS: '2',
    // Every test signs people up from 127.0.0.1; the rate-limit test sets its own low limits.
    RATE_LIMIT_SIGN_IN: '100000',
    RATE_LIMIT_UPLOADS: '100000',
    RATE_LIMIT_RIGHTS: '100000',
    ...overrides,
  });
}

export type Stack = Awaited<ReturnType<typeof startStack>>;

/**
 * The whole service in this process on real Postgres, Redis and S3 over HTTP, with a manual clock
 * and a local Postmark server. roles picks what runs (api, worker, scheduler or all).
 */
export async function startStack(opts: { role?: Role; env?: Record<string, string>; clock?: ManualClock } = {}) {
  const db = await cloneDatabase();
  const postmark = await startFakePostmark('test-postmark-token');
  const clock = opts.clock ?? new ManualClock(new Date());
  const config = testConfig({
    DATABASE_URL: db.url,
    POSTMARK_TOKEN: 'test-postmark-token',
    POSTMARK_API_URL: postmark.url,
    ...opts.env,
  });
  const running = await startRole(opts.role ?? 'all', config, {
    clock,
    port: 0,
    migrate: false,
    logger: createLogger(config.LOG_LEVEL),
  });
  const url = running.url ?? '';
  const api = async (
    method: string,
    p: string,
    init: { token?: string; json?: unknown; body?: RequestInit['body']; headers?: Record<string, string> } = {},
  ) => {
    const headers: Record<string, string> = { ...init.headers };
    if (init.token) headers.authorization = `Bearer ${init.token}`;
    if (init.json !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(url + p, {
      method,
      headers,
      body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
    });
    const type = res.headers.get('content-type') ?? '';
    const body = type.includes('json') ? await res.json() : Buffer.from(await res.arrayBuffer());
    return { status: res.status, headers: res.headers, body: body as any };
  };
  return {
    ...running,
    url,
    clock,
    config,
    postmark,
    api,
    async stop() {
      await running.stop();
      await closePixels();
      await postmark.close();
      await db.drop();
    },
  };
}

let counter = 0;
/** Registers a person and signs them in with the code from the captured email. */
export async function signUp(
  stack: Stack,
  extra: Record<string, unknown> = {},
): Promise<{ token: string; email: string; userId: string }> {
  const email = `person${++counter}-${randomBytes(3).toString('hex')}@example.com`;
  const reg = await stack.api('POST', '/v1/accounts', {
    json: {
      email,
      name: 'Test Person',
      confirms_adult: true,
      accepted_policy_version: NEWEST_SHIPPED_POLICY_VERSION,
      ...extra,
    },
  });
  if (reg.status !== 202) throw new Error(`registration failed: ${JSON.stringify(reg.body)}`);
  const mail = stack.postmark.to(email).at(-1)!;
  const code = /code is (\d{6})/.exec(mail.TextBody ?? '')![1];
  const tok = await stack.api('POST', '/v1/auth/token', { json: { email, code } });
  if (tok.status !== 200) throw new Error(`sign-in failed: ${JSON.stringify(tok.body)}`);
  return { token: tok.body.token, email, userId: tok.body.user.id };
}

/** Signs an existing person in again (a token expires after SESSION_TTL_HOURS of clock time). */
export async function signIn(stack: Stack, email: string): Promise<string> {
  await stack.api('POST', '/v1/auth/code', { json: { email } });
  const code = /code is (\d{6})/.exec(stack.postmark.to(email).at(-1)!.TextBody ?? '')![1];
  const tok = await stack.api('POST', '/v1/auth/token', { json: { email, code } });
  if (tok.status !== 200) throw new Error(`sign-in failed: ${JSON.stringify(tok.body)}`);
  return tok.body.token;
}

export function multipart(field: string, data: Buffer, filename = 'selfie.jpg', contentType = 'image/jpeg'): FormData {
  const form = new FormData();
  form.append(field, new Blob([new Uint8Array(data)], { type: contentType }), filename);
  return form;
}

/** Polls until check() returns a value (the worker runs in this process; this waits on real jobs). */
export async function until<T>(
  check: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  what = 'condition',
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Uploads a photo through the API and waits for its verdict, as a client polls, and for a usable
 * photo's render preparation (a background job that adds an object: a test counting objects must
 * not see it land later). A stack without a worker (role 'api') runs the real preparation, analysis
 * and render preparation handlers in this process instead.
 */
export async function uploadJudged(stack: Stack, token: string, data: Buffer, name = 'selfie.png', type = 'image/png') {
  const up = await stack.api('POST', '/v1/photos', { token, body: multipart('photo', data, name, type) });
  if (up.status !== 201) throw new Error(`upload failed: ${up.status} ${JSON.stringify(up.body)}`);
  const id = up.body.id as string;
  if (!stack.workers.length) {
    const job = { attemptsMade: 0, opts: {} } as Job;
    await pipelineHandlers['photo.prepare'](stack.ctx, { photoId: id }, job);
    await pipelineHandlers['photo.analyse'](stack.ctx, { photoId: id }, job);
  }
  const judged = await until(
    async () => {
      const p = await stack.api('GET', `/v1/photos/${id}`, { token });
      return (
        !['preparing', 'analysing'].includes(p.body.status) && (p.body as { id: string; status: string; verdict: any })
      );
    },
    60_000,
    `photo ${id} to be judged`,
  );
  if (judged.status !== 'usable') return judged;
  if (!stack.workers.length)
    await pipelineHandlers['photo.prepare-render'](stack.ctx, { photoId: id }, { attemptsMade: 0, opts: {} } as Job);
  await until(
    async () => {
      const p = await stack.ctx.db
        .selectFrom('photos')
        .select('prepared_blob_id')
        .where('id', '=', id)
        .executeTakeFirst();
      // A photo deleted meanwhile (a test may race its deletion) has nothing more to wait for.
      return !p || p.prepared_blob_id !== null;
    },
    120_000,
    `photo ${id}'s render preparation`,
  );
  return judged;
}

/** Rows, objects and jobs that exist now: a refused request must leave every count unchanged. */
export async function footprint(stack: Stack) {
  const { db, storage, queues } = stack.ctx;
  const count = async (t: 'photos' | 'blobs' | 'orders' | 'payments' | 'headshots') =>
    Number(
      (
        await db
          .selectFrom(t)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  return {
    photos: await count('photos'),
    blobs: await count('blobs'),
    orders: await count('orders'),
    payments: await count('payments'),
    objects: (await storage.listKeys('originals')).length + (await storage.listKeys('headshots')).length,
    jobs: await countJobs(queues),
  };
}

/** Orders one style of a usable photo (the local processor pays) and waits until the order is ready or failed, as GET answers it. */
export async function orderSettled(stack: Stack, token: string, photoId: string, timeoutMs = 90_000) {
  const created = await stack.api('POST', '/v1/orders', {
    token,
    json: { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [photoId] },
  });
  if (created.status !== 201) throw new Error(`order failed: ${created.status} ${JSON.stringify(created.body)}`);
  return until(
    async () => {
      const o = await stack.api('GET', `/v1/orders/${created.body.order.id}`, { token });
      return ['ready', 'failed'].includes(o.body.status) && o.body;
    },
    timeoutMs,
    'the order to settle',
  );
}

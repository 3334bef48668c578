import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { expect } from 'vitest';
import { fixture, until, type Stack, uploadJudged } from '../support/stack';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** A port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A private, throwaway Redis without persistence (never the shared one on 6379); `args` adds options. */
export async function startRedis(
  port: number,
  args: string[] = [],
): Promise<{ url: string; child: ChildProcess; kill: () => Promise<void> }> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await until(
    async () => {
      const { Redis } = await import('ioredis');
      const c = new Redis({
        port,
        host: '127.0.0.1',
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      c.on('error', () => {});
      try {
        await c.connect();
        return (await c.ping()) === 'PONG';
      } catch {
        return false;
      } finally {
        c.disconnect();
      }
    },
    10_000,
    `redis on ${port}`,
  );
  return {
    url: `redis://127.0.0.1:${port}`,
    child,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The environment a child role needs to share the test stack's database, queues, buckets and mail. */
export function childEnv(stack: Stack, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const c = stack.config;
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    DATABASE_URL: c.DATABASE_URL,
    REDIS_URL: c.REDIS_URL,
    QUEUE_PREFIX: c.QUEUE_PREFIX,
    S3_ENDPOINT: c.S3_ENDPOINT!,
    S3_BUCKET_ORIGINALS: c.S3_BUCKET_ORIGINALS,
    S3_BUCKET_HEADSHOTS: c.S3_BUCKET_HEADSHOTS,
    POSTMARK_TOKEN: c.POSTMARK_TOKEN ?? '',
    POSTMARK_API_URL: c.POSTMARK_API_URL ?? '',
    JOB_ATTEMPTS: String(c.JOB_ATTEMPTS),
    ...extra,
  };
}

export interface Child {
  proc: ChildProcess;
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * `main.ts <role>` in its own process (node --import tsx, so the pid is the role itself, not npx),
 * or with from 'bundle' the dist/main.mjs that `npm run build` makes and the images run.
 */
export function spawnRole(
  role: 'api' | 'worker' | 'scheduler',
  env: NodeJS.ProcessEnv,
  from: 'source' | 'bundle' = 'source',
): Child {
  const args = from === 'bundle' ? ['dist/main.mjs', role] : ['--import', 'tsx', 'main.ts', role];
  const proc = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.once('exit', (code, signal) => r({ code, signal })),
  );
  return { proc, output: () => out, exit };
}

/** The child's exit, or an error naming the bound (and the child's output) if it takes longer than ms. */
export async function exitWithin(
  child: Child,
  ms: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`process ${child.proc.pid} still running ${ms} ms later:\n${child.output()}`)),
      ms,
    );
  });
  try {
    const r = await Promise.race([child.exit, late]);
    return { ...r, ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Takes a row lock (select ... for update) on one row from a connection of the test's own, inside
 * a transaction left open, so whatever writes that row blocks inside Postgres until release().
 * blocked() lists the backends waiting on it right now (pg_blocking_pids).
 */
export async function holdRowLock(
  dbUrl: string,
  table: string,
  id: string,
): Promise<{ pid: number; blocked: () => Promise<{ pid: number; query: string }[]>; release: () => Promise<void> }> {
  const client = new pg.Client({ connectionString: dbUrl });
  client.on('error', () => {}); // a database dropped under a failed test's lock must not crash the run
  await client.connect();
  await client.query('begin');
  const locked = await client.query(`select id from "${table}" where id = $1 for update`, [id]);
  if (locked.rowCount !== 1) {
    await client.end();
    throw new Error(`no row ${id} in ${table} to lock`);
  }
  const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid;
  let released = false;
  return {
    pid,
    blocked: async () =>
      (
        await client.query<{ pid: number; query: string }>(
          'select pid, query from pg_stat_activity where $1 = any(pg_blocking_pids(pid))',
          [pid],
        )
      ).rows,
    release: async () => {
      if (released) return;
      released = true;
      await client.query('rollback');
      await client.end();
    },
  };
}

/** Uploads a fixture and orders it in the given styles; the local payment processor confirms by itself. */
export async function placeOrder(
  stack: Stack,
  token: string,
  styles: string[],
  photo = 'astronaut.png',
): Promise<string> {
  const up = { body: await uploadJudged(stack, token, await fixture(photo), photo) };
  expect(up.body.status).toBe('usable');
  const created = await stack.api('POST', '/v1/orders', {
    token,
    json: { package_id: 'executive', style_ids: styles, photo_ids: [up.body.id], accept_shortfall: true },
  });
  expect(created.status).toBe(201);
  return created.body.order.id as string;
}

export async function orderStatus(stack: Stack, orderId: string): Promise<string> {
  return (await stack.ctx.db.selectFrom('orders').select('status').where('id', '=', orderId).executeTakeFirstOrThrow())
    .status;
}

export const waitForOrder = (stack: Stack, orderId: string, timeoutMs = 90_000) =>
  until(
    async () => {
      const s = await orderStatus(stack, orderId);
      return ['ready', 'failed'].includes(s) && s;
    },
    timeoutMs,
    `order ${orderId} to settle`,
  );

/** A render job of this stack's queue that a worker holds right now. */
export const activeRender = (stack: Stack) =>
  until(
    async () => (await stack.ctx.queues.byName.rendering.getJobs(['active']))[0],
    60_000,
    'a render job to be active',
  );

/** Objects in the buckets without a blobs row, and blobs rows without an object. */
export async function orphans(stack: Stack): Promise<{ objectsWithoutRow: string[]; rowsWithoutObject: string[] }> {
  const rows = await stack.ctx.db.selectFrom('blobs').select(['object_key']).execute();
  const keys = [...(await stack.ctx.storage.listKeys('originals')), ...(await stack.ctx.storage.listKeys('headshots'))];
  const rowKeys = new Set(rows.map((r) => r.object_key));
  const keySet = new Set(keys);
  return {
    objectsWithoutRow: keys.filter((k) => !rowKeys.has(k)),
    rowsWithoutObject: [...rowKeys].filter((k) => !keySet.has(k)),
  };
}

/** Kills every connection to the stack's database except our own (Postgres itself keeps running). */
export async function dropConnections(dbUrl: string): Promise<number> {
  const name = new URL(dbUrl).pathname.slice(1);
  const admin = new pg.Client({ connectionString: adminUrlOf(dbUrl) });
  await admin.connect();
  try {
    const r = await admin.query(
      'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
      [name],
    );
    return r.rowCount ?? 0;
  } finally {
    await admin.end();
  }
}

/** Refuses (or allows again) new connections to the stack's database, so an outage lasts. */
export async function allowConnections(dbUrl: string, allow: boolean): Promise<void> {
  const name = new URL(dbUrl).pathname.slice(1);
  const admin = new pg.Client({ connectionString: adminUrlOf(dbUrl) });
  await admin.connect();
  try {
    await admin.query(`alter database "${name}" allow_connections ${allow ? 'true' : 'false'}`);
  } finally {
    await admin.end();
  }
}

function adminUrlOf(dbUrl: string): string {
  const u = new URL(dbUrl);
  u.pathname = '/postgres';
  return u.toString();
}

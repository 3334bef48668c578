import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/platform/config';
import { redisOptions } from '../../core/platform/redis';
import { freePort } from '../faults/support';
import { fixture, orderSettled, signUp, startStack, until, uploadJudged, type Stack } from '../support/stack';

/**
 * Redis as operators run it: a private redis-server speaking TLS only (no plain port), on a
 * certificate signed by a CA made here with openssl, with the default user switched off and an ACL
 * user whose password needs percent-encoding, and the service on database 3. The whole service
 * runs one order through it (upload with its event stream open, payment, analysis, render, the
 * delivery email, the scheduler's sweeps and the upload rate limit), then CLIENT LIST shows every
 * connection it opened, each as that user on database 3.
 */
const PASSWORD = 'tls/acl:pass word';
let dir: string;
let server: ChildProcess | undefined;
let url: string;
let caFile: string;
let admin: Redis;
let stack: Stack;

function makeCertificates(): void {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=Rasmi test CA',
  );
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  run(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '1',
    '-extfile',
    'san.ext',
  );
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'rasmi-tls-'));
  await writeFile(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  makeCertificates();
  caFile = path.join(dir, 'ca.pem');
  const port = await freePort();
  // The ACL file holds the password's SHA-256 (`#`), so it may contain any character.
  await writeFile(
    path.join(dir, 'users.acl'),
    `user default off\nuser rasmi on #${createHash('sha256').update(PASSWORD).digest('hex')} ~* &* +@all\n`,
  );
  server = spawn(
    'redis-server',
    [
      '--port',
      '0',
      '--tls-port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--tls-cert-file',
      'server.pem',
      '--tls-key-file',
      'server.key',
      '--tls-ca-cert-file',
      'ca.pem',
      '--tls-auth-clients',
      'no',
      '--aclfile',
      'users.acl',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    { cwd: dir, stdio: 'ignore' },
  );
  url = `rediss://rasmi:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}/3`;
  admin = new Redis({
    ...redisOptions({ REDIS_URL: url, REDIS_TLS_CA_FILE: caFile }),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  admin.on('error', () => {});
  await until(
    () =>
      admin.connect().then(
        () => true,
        () => false,
      ),
    10_000,
    'the TLS redis-server',
  );
  stack = await startStack({
    role: 'all',
    env: { REDIS_URL: url, REDIS_TLS_CA_FILE: caFile, RATE_LIMIT_UPLOADS: '50' },
  });
});

afterAll(async () => {
  await stack?.stop();
  admin?.disconnect();
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server!.once('exit', r));
    server.kill('SIGKILL');
    await exited;
  }
  await rm(dir, { recursive: true, force: true });
});

describe('Redis over TLS with an ACL user and a database index', () => {
  it('reads the user, password, database and TLS from REDIS_URL, and refuses settings that cannot work', () => {
    expect(redisOptions({ REDIS_URL: url, REDIS_TLS_CA_FILE: caFile })).toMatchObject({
      host: '127.0.0.1',
      username: 'rasmi',
      password: PASSWORD,
      db: 3,
      tls: { ca: expect.any(Buffer) },
    });
    expect(redisOptions({ REDIS_URL: 'redis://[::1]:6379', REDIS_TLS_CA_FILE: undefined })).toEqual({
      host: '::1',
      port: 6379,
      username: undefined,
      password: undefined,
      db: 0,
    });
    expect(() => loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_TLS_CA_FILE: caFile })).toThrow(
      /REDIS_TLS_CA_FILE: set, but REDIS_URL is not rediss/,
    );
    expect(() => loadConfig({ REDIS_URL: 'http://127.0.0.1:6379' })).toThrow(/REDIS_URL/);
    expect(() => loadConfig({ REDIS_URL: 'not a url' })).toThrow(/REDIS_URL/);
    expect(() => loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379/x' })).toThrow(/REDIS_URL/);
    expect(() => redisOptions({ REDIS_URL: url, REDIS_TLS_CA_FILE: path.join(dir, 'missing.pem') })).toThrow(
      /REDIS_TLS_CA_FILE: cannot read/,
    );
  });

  it('refuses a connection that does not trust the CA, and one without the password', async () => {
    const untrusting = new Redis({
      ...redisOptions(loadConfig({ REDIS_URL: url })),
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    const errors: string[] = [];
    untrusting.on('error', (err: Error) => errors.push(err.message));
    await expect(untrusting.connect()).rejects.toThrow();
    expect(errors.join('; ')).toMatch(/self[- ]signed certificate/i);
    untrusting.disconnect();
    const anonymous = new Redis({
      ...redisOptions({ REDIS_URL: url.replace(/\/\/[^@]+@/, '//'), REDIS_TLS_CA_FILE: caFile }),
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    anonymous.on('error', () => {});
    await anonymous.connect().catch(() => {});
    await expect(anonymous.ping()).rejects.toThrow(/NOAUTH|WRONGPASS|closed/i);
    anonymous.disconnect();
  });

  it('runs one order end to end; every connection is TLS as the ACL user on database 3', async () => {
    const me = await signUp(stack);
    // The photo event stream opens the API's subscriber connection.
    const controller = new AbortController();
    const events = await fetch(`${stack.url}/v1/photos/events`, {
      headers: { authorization: `Bearer ${me.token}` },
      signal: controller.signal,
    });
    expect(events.status).toBe(200);
    const reader = events.body!.pipeThrough(new TextDecoderStream()).getReader();
    let streamed = '';
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        streamed += value;
      }
    })();

    const up = await uploadJudged(stack, me.token, await fixture('astronaut.png'), 'astronaut.png');
    expect(up.status).toBe('usable');
    await until(async () => streamed.includes('"usable"'), 30_000, 'the usable event over the stream');
    const order = await orderSettled(stack, me.token, up.id);
    expect(order.status).toBe('ready');
    await until(
      async () => stack.postmark.to(me.email).some((m) => m.Tag === 'order-ready'),
      10_000,
      'the ready email',
    );

    // Every connection the service holds: queues, workers, the scheduler, rate limits, the subscriber.
    const clients = String(await admin.client('LIST'))
      .trim()
      .split('\n')
      .map((line) => Object.fromEntries(line.split(' ').map((kv) => kv.split('=') as [string, string])));
    const mine = String(await admin.client('ID'));
    const theirs = clients.filter((c) => c.id !== mine);
    expect(theirs.length).toBeGreaterThanOrEqual(5);
    for (const c of theirs) expect([c.user, c.db], c.name || c.cmd).toEqual(['rasmi', '3']);
    expect(theirs.some((c) => c.cmd === 'subscribe' || c.flags.includes('P'))).toBe(true);
    controller.abort();
    await reading;

    // Keys in database 3 only: every queue of the order, the sweeps, the rate limit.
    const prefix = stack.config.QUEUE_PREFIX;
    for (const q of ['preparation', 'analysis', 'rendering', 'delivery', 'sweeps'])
      expect((await admin.keys(`${prefix}:${q}:*`)).length, q).toBeGreaterThan(0);
    expect((await admin.keys(`${prefix}:rl:uploads:*`)).length).toBe(1);
    await admin.select(0);
    expect(await admin.dbsize()).toBe(0);
  }, 240_000); // a whole order, on a machine other work may be loading
});

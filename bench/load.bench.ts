/**
 * Load figures (issue 5): 50 people upload 5 MB photos over 50 connections for LOAD_SECONDS (60),
 * against the API running alone in a child process whose RSS is sampled every 250 ms; then every
 * upload is ordered (package LOAD_PACKAGE, default starter with 1 style) and two worker processes
 * drain the queue.
 *   npm run bench:load            LOAD_SECONDS=10 npm run bench:load   (quick trial)
 *   LOAD_API_PROCESSES=2 LOAD_DRAIN=0 npm run bench:load   (two API processes on the port; no drain)
 *   LOAD_API_CPUS=0 LOAD_DRAIN=0 taskset -c 1 npm run bench:load   (the API on core 0, the load generator on core 1)
 */
import { NEWEST_SHIPPED_POLICY_VERSION } from '../policies';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { startLocalS3 } from '../core/platform/local-s3';
import { fiveMegabytePhoto } from './util';

const SECONDS = Number(process.env.LOAD_SECONDS ?? 60);
const PEOPLE = 50;
const PACKAGE = process.env.LOAD_PACKAGE ?? 'starter';
const STYLES = (process.env.LOAD_STYLES ?? 'studio-grey').split(',');
const DRAIN_TIMEOUT_MS = Number(process.env.LOAD_DRAIN_MINUTES ?? 30) * 60_000;
/** API_PROCESSES of the API child: its RSS and CPU are then the sum over its processes. */
const API_PROCESSES = Number(process.env.LOAD_API_PROCESSES ?? 1);
const DRAIN = process.env.LOAD_DRAIN !== '0';
const DB_NAME = `rasmi_load`;
const DB_URL = `postgres://root@127.0.0.1:5432/${DB_NAME}`;

function multipart(photo: Buffer): { body: Buffer; contentType: string } {
  const boundary = `----rasmiload${Date.now().toString(16)}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="photo"; filename="big.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return { body: Buffer.concat([head, photo, tail]), contentType: `multipart/form-data; boundary=${boundary}` };
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The images preload jemalloc with one arena (Dockerfile); so do the children here when it is
 * installed (LOAD_JEMALLOC=0 to compare with glibc, MALLOC_CONF= for jemalloc's own defaults).
 */
const JEMALLOC_SO = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2';
const JEMALLOC: Record<string, string> =
  process.env.LOAD_JEMALLOC !== '0' && existsSync(JEMALLOC_SO)
    ? { LD_PRELOAD: JEMALLOC_SO, MALLOC_CONF: process.env.MALLOC_CONF ?? 'narenas:1' }
    : {};

/** Runs a role as the images do: plain node on the bundle (`npm run build`, run by `npm run bench:load` first). */
function startChild(role: 'api' | 'worker', env: Record<string, string>): ChildProcess {
  // LOAD_API_NODE_ARGS / LOAD_WORKER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profile a role.
  const extra = (process.env[role === 'api' ? 'LOAD_API_NODE_ARGS' : 'LOAD_WORKER_NODE_ARGS'] ?? '')
    .split(' ')
    .filter(Boolean);
  // LOAD_API_CPUS, e.g. "0", pins the API's processes to those cores (taskset keeps the pid), so a
  // run can give the API a core of its own while the load generator is pinned to another.
  const cpus = role === 'api' ? process.env.LOAD_API_CPUS : undefined;
  const command = [...(cpus ? ['taskset', '-c', cpus] : []), process.execPath, ...extra, 'dist/main.mjs', role];
  const child = spawn(command[0], command.slice(1), {
    env: { ...process.env, ...JEMALLOC, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM') console.error(`${role} child ${child.pid} exited with ${code ?? signal}`);
  });
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(15_000).then(() => child.kill('SIGKILL'))]);
}

/** CPU seconds (user + system) a process has used, from /proc (Linux; 100 clock ticks a second). */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** VmRSS of a process in MB, from /proc (Linux). */
async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** A process and its children (the API processes an API_PROCESSES primary forked). */
async function tree(pid: number): Promise<number[]> {
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => ''))
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  return [pid, ...children];
}
const sumOver = async (pid: number, f: (p: number) => Promise<number>) =>
  (await Promise.all((await tree(pid)).map((p) => f(p).catch(() => 0)))).reduce((a, b) => a + b, 0);

async function main() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rasmi-load-'));
  const outbox = path.join(dir, 'outbox');
  // S3 runs in this process so the API child's RSS is the API's alone.
  const s3 = await startLocalS3(path.join(dir, 's3'));
  const admin = new pg.Client({ connectionString: 'postgres://root@127.0.0.1:5432/postgres' });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DB_NAME}`);
  await admin.end();

  const port = await freePort();
  const env: Record<string, string> = {
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    PORT: String(port),
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    DATABASE_URL: DB_URL,
    RUN_MIGRATIONS: 'true',
    QUEUE_PREFIX: `load${process.pid}`,
    S3_ENDPOINT: s3.endpoint,
    MAIL_OUTBOX_DIR: outbox,
    // A load test is deliberate abuse of the upload and sign-in limits.
    RATE_LIMIT_UPLOADS: '100000000',
    RATE_LIMIT_SIGN_IN: '100000000',
    UPLOAD_MAX_FILES_PER_USER: '100000000',
  };
  const base = `http://127.0.0.1:${port}`;
  const children: ChildProcess[] = [];
  const db = new pg.Pool({ connectionString: DB_URL, max: 2 });
  try {
    const api = startChild('api', { ...env, API_PROCESSES: String(API_PROCESSES) });
    children.push(api);
    for (let t = 0; ; t++) {
      if (api.exitCode !== null) throw new Error('the API child exited during start-up');
      const forked = (await tree(api.pid!)).length - 1;
      if (
        forked === (API_PROCESSES > 1 ? API_PROCESSES : 0) &&
        (await fetch(`${base}/healthz`).then(
          (r) => r.ok,
          () => false,
        ))
      )
        break;
      if (t > 600) throw new Error('the API did not start within 60 s');
      await sleep(100);
    }
    const call = async (method: string, p: string, init: { token?: string; json?: unknown } = {}) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (init.token) headers.authorization = `Bearer ${init.token}`;
      const res = await fetch(base + p, { method, headers, body: init.json ? JSON.stringify(init.json) : undefined });
      const body = await res.json().catch(() => null);
      if (!res.ok) throw new Error(`${method} ${p} → ${res.status} ${JSON.stringify(body)}`);
      return body as any;
    };

    // 50 people, each signed in with the code the service mailed to its outbox.
    const tokens: string[] = [];
    const stamp = Date.now();
    for (let i = 0; i < PEOPLE; i++) {
      const email = `load+${stamp}-${i}@rasmi.local`;
      await call('POST', '/v1/accounts', {
        json: {
          email,
          name: `Load ${i}`,
          confirms_adult: true,
          accepted_policy_version: NEWEST_SHIPPED_POLICY_VERSION,
        },
      });
      let code: string | undefined;
      for (let t = 0; !code && t < 100; t++) {
        for (const f of await readdir(outbox).catch(() => [] as string[])) {
          const mail = JSON.parse(await readFile(path.join(outbox, f), 'utf8')) as { to: string; text: string };
          if (mail.to === email) code = /code is (\d{6})/.exec(mail.text)?.[1];
        }
        if (!code) await sleep(50);
      }
      if (!code) throw new Error(`no sign-in code for ${email}`);
      tokens.push((await call('POST', '/v1/auth/token', { json: { email, code } })).token);
    }

    const photo = await fiveMegabytePhoto();
    const { body, contentType } = multipart(photo);
    console.log(
      `upload body: ${(body.length / 1e6).toFixed(2)} MB multipart (JPEG 3000x3000); ${PEOPLE} people, ${PEOPLE} connections, ${SECONDS} s; allocator: ${JEMALLOC.LD_PRELOAD ? `jemalloc (MALLOC_CONF=${JEMALLOC.MALLOC_CONF})` : 'glibc'}`,
    );

    // RSS of the API process, every 250 ms, from before the load until after it.
    // Forked API processes take a few seconds each to load; let them all get to idle first.
    if (API_PROCESSES > 1) await sleep(5000 * API_PROCESSES);
    const idleRss = await sumOver(api.pid!, rssMb);
    const apiCpu0 = await sumOver(api.pid!, cpuSeconds);
    const benchCpu0 = process.cpuUsage();
    let peakRss = idleRss;
    const sampler = setInterval(() => {
      sumOver(api.pid!, rssMb).then(
        (mb) => (peakRss = Math.max(peakRss, mb)),
        () => {},
      );
    }, 250);

    // Each connection is one person: its first response assigns it a token of its own, kept from
    // then on (autocannon rebuilds that client's request). Until then a connection sends person 0's.
    const assigned = new WeakMap<object, number>();
    const latencies: number[] = [];
    let next = 0;
    const headersFor = (i: number) => ({ authorization: `Bearer ${tokens[i]}`, 'content-type': contentType });
    const result = await new Promise<autocannon.Result>((resolve, reject) => {
      const instance = autocannon(
        {
          url: `${base}/v1/photos`,
          method: 'POST',
          connections: PEOPLE,
          duration: SECONDS,
          timeout: 30,
          headers: headersFor(0),
          body,
        },
        (err, res) => (err ? reject(err) : resolve(res)),
      );
      instance.on('response', (client: any, _status: number, _bytes: number, ms: number) => {
        latencies.push(ms);
        if (!assigned.has(client)) {
          const person = next++ % PEOPLE;
          assigned.set(client, person);
          if (person !== 0) client.setHeaders(headersFor(person));
        }
      });
    });
    // autocannon stops at the deadline with uploads still in flight; let the API finish them (and keep sampling).
    const countPhotos = async () => Number((await db.query(`SELECT count(*) AS n FROM photos`)).rows[0].n);
    for (let prev = -1, n = await countPhotos(); n !== prev; await sleep(2000), prev = n, n = await countPhotos());
    clearInterval(sampler);
    peakRss = Math.max(peakRss, await sumOver(api.pid!, rssMb));
    const apiCpu = (await sumOver(api.pid!, cpuSeconds)) - apiCpu0;
    const benchUse = process.cpuUsage(benchCpu0);
    const benchCpu = (benchUse.user + benchUse.system) / 1e6;

    const codes = Object.entries(result.statusCodeStats ?? {})
      .map(([s, v]) => `${s}: ${v.count}`)
      .join(', ');
    const uploaded = await countPhotos();
    console.log('--- load ---');
    console.log(
      `requests: ${result.requests.total} in ${result.duration.toFixed(1)} s (${uploaded} photos stored, counting uploads still in flight at the deadline)`,
    );
    console.log(
      `throughput: ${result.requests.average.toFixed(2)} req/s, ${(result.throughput.average / 1e6).toFixed(3)} MB/s received; ${((result.requests.total * body.length) / result.duration / 1e6).toFixed(1)} MB/s uploaded`,
    );
    latencies.sort((a, b) => a - b);
    const pct = (q: number) =>
      latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))].toFixed(0) : 'n/a';
    console.log(
      `latency (${latencies.length} responses): p50 ${pct(0.5)} ms, p95 ${pct(0.95)} ms, p99 ${pct(0.99)} ms, max ${pct(1)} ms (autocannon: p50 ${result.latency.p50}, p99 ${result.latency.p99}, mean ${result.latency.average} ms)`,
    );
    console.log(
      `errors: ${result.errors} (timeouts ${result.timeouts}); non-2xx: ${result.non2xx}; by status: ${codes}`,
    );
    console.log(
      `API RSS (${API_PROCESSES} process${API_PROCESSES > 1 ? 'es and their primary, summed' : ''}): idle ${idleRss.toFixed(0)} MB, peak ${peakRss.toFixed(0)} MB (sampled every 250 ms); load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    console.log(
      `CPU: API ${apiCpu.toFixed(1)} s (${((apiCpu * 1000) / Math.max(1, result.requests.total)).toFixed(0)} ms an upload); load generator + local S3 server ${benchCpu.toFixed(1)} s (${((benchCpu * 1000) / Math.max(1, result.requests.total)).toFixed(0)} ms an upload)`,
    );

    if (!DRAIN) return;
    // Drain: each person orders their photos (20 a order, the API's cap), two workers process them.
    const t0 = performance.now();
    const workers = [startChild('worker', env), startChild('worker', env)];
    children.push(...workers);
    // Worker RSS (each process: its pixel threads with their model sessions), for sizing GPU/CPU nodes.
    let workerPeak = 0;
    const workerSampler = setInterval(() => {
      for (const w of workers)
        rssMb(w.pid!).then(
          (mb) => (workerPeak = Math.max(workerPeak, mb)),
          () => {},
        );
    }, 500);
    // Photos are judged at upload and only usable ones can be ordered: each person waits for the
    // verdicts on their photos (the workers analyse them now), then orders the usable ones.
    let orders = 0;
    await Promise.all(
      tokens.map(async (token) => {
        const me = await call('GET', '/v1/photos?limit=1', { token });
        const userId = me.items[0]
          ? (await db.query(`SELECT user_id FROM photos WHERE id = $1`, [me.items[0].id])).rows[0].user_id
          : undefined;
        if (!userId) return;
        while (
          Number(
            (
              await db.query(
                `SELECT count(*) AS n FROM photos WHERE user_id = $1 AND status IN ('preparing', 'analysing')`,
                [userId],
              )
            ).rows[0].n,
          ) > 0
        ) {
          if (performance.now() - t0 > DRAIN_TIMEOUT_MS) return;
          await sleep(1000);
        }
        const ids = (
          await db.query<{ id: string }>(`SELECT id FROM photos WHERE user_id = $1 AND status = 'usable' ORDER BY id`, [
            userId,
          ])
        ).rows.map((r) => r.id);
        for (let i = 0; i < ids.length; i += 20) {
          await call('POST', '/v1/orders', {
            token,
            json: { package_id: PACKAGE, style_ids: STYLES, photo_ids: ids.slice(i, i + 20) },
          });
          orders++;
        }
      }),
    );
    console.log(
      `--- drain --- ${orders} orders (${PACKAGE}, ${STYLES.join('+')}) for ${uploaded} photos, 2 worker processes`,
    );
    let last = '';
    let state: Record<string, number> = {};
    for (;;) {
      const rows = (
        await db.query<{ status: string; n: string }>(`SELECT status, count(*) AS n FROM orders GROUP BY status`)
      ).rows;
      state = Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
      const open = orders - (state.ready ?? 0) - (state.failed ?? 0);
      const line = JSON.stringify(state);
      if (line !== last) {
        console.log(`  ${((performance.now() - t0) / 1000).toFixed(0)} s: ${line}`);
        last = line;
      }
      if (open === 0) break;
      if (performance.now() - t0 > DRAIN_TIMEOUT_MS) {
        console.log(`drain stopped after ${DRAIN_TIMEOUT_MS / 60_000} min with ${open} orders open`);
        break;
      }
      await sleep(1000);
    }
    const drainS = (performance.now() - t0) / 1000;
    clearInterval(workerSampler);
    const workerCpu = (await Promise.all(workers.map((w) => cpuSeconds(w.pid!)))).reduce((a, b) => a + b, 0);
    const h = (
      await db.query<{ status: string; n: string }>(`SELECT status, count(*) AS n FROM headshots GROUP BY status`)
    ).rows;
    const headshots = Object.fromEntries(h.map((r) => [r.status, Number(r.n)]));
    const p = (
      await db.query<{ status: string; verdicts: string; n: string }>(
        `SELECT status, count(verdict) AS verdicts, count(*) AS n FROM photos GROUP BY status`,
      )
    ).rows;
    const withVerdict = p.reduce((s, r) => s + Number(r.verdicts), 0);
    const rendered = headshots.rendered ?? 0;
    console.log(
      `drain: ${drainS.toFixed(1)} s; orders ${JSON.stringify(state)}; headshots ${JSON.stringify(headshots)}; ${((rendered / drainS) * 60).toFixed(1)} headshots/min, ${((withVerdict / drainS) * 60).toFixed(1)} photos analysed/min`,
    );
    console.log(
      `worker peak RSS: ${workerPeak.toFixed(0)} MB (largest of the two processes, sampled every 500 ms); worker CPU ${workerCpu.toFixed(1)} s in all (${(workerCpu / drainS).toFixed(2)} cores busy on average, ${((workerCpu * 1000) / Math.max(1, withVerdict)).toFixed(0)} ms a photo)`,
    );
    console.log(
      `photos with a verdict: ${withVerdict} of ${uploaded} (${p.map((r) => `${r.status} ${r.n}`).join(', ')})${withVerdict === uploaded ? ' — every upload processed' : ' — NOT every upload processed'}`,
    );
  } finally {
    await Promise.all(children.map(stopChild));
    await db.end();
    await s3.close();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

/**
 * A team of 20 through the whole path on the local stack (api, workers and scheduler in one
 * process): the owner's brand, logo and seats, then, timed, 20 email invitations, joining with
 * consent, photos (one uploaded and judged, copies for the rest: see test/support/team-flow.ts),
 * 20 orders drawn from seats and rendered by the workers, sharing, approval, and the admin's ZIP.
 * Prints the time from the first invitation to the last byte of the ZIP and the ZIP's size.
 *   npm run bench:team            (TEAM_SIZE=20, RUNS=1 by default; the median of the runs is printed)
 */
import { readdir, readFile } from 'node:fs/promises';
import { NEWEST_SHIPPED_POLICY_VERSION } from '../policies';
import { runTeam, type TeamHarness } from '../test/support/team-flow';
import { benchStack } from './support';

const N = Number(process.env.TEAM_SIZE ?? 20);
const RUNS = Number(process.env.RUNS ?? 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const stack = await benchStack('all');
  const outbox = stack.config.MAIL_OUTBOX_DIR;
  const mail = async (to: string, pattern: RegExp) => {
    for (let i = 0; i < 300; i++) {
      for (const f of (await readdir(outbox)).sort().reverse()) {
        const m = JSON.parse(await readFile(`${outbox}/${f}`, 'utf8')) as { to: string; text: string };
        const hit = m.to === to && pattern.exec(m.text)?.[1];
        if (hit) return hit;
      }
      await sleep(100);
    }
    throw new Error(`no mail to ${to}`);
  };
  const api: TeamHarness['api'] = async (method, path, init = {}) => {
    const res = await fetch(stack.url + path, {
      method,
      headers: {
        ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
        ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: init.json !== undefined ? JSON.stringify(init.json) : undefined,
    });
    const body = res.headers.get('content-type')?.includes('json')
      ? await res.json()
      : Buffer.from(await res.arrayBuffer());
    return { status: res.status, body };
  };
  let n = 0;
  const harness: TeamHarness = {
    ctx: stack.ctx,
    api,
    signUp: async () => {
      const email = `team+${process.pid}-${Date.now()}-${n++}@rasmi.local`;
      await api('POST', '/v1/accounts', {
        json: {
          email,
          name: `Team Member ${n}`,
          confirms_adult: true,
          accepted_policy_version: NEWEST_SHIPPED_POLICY_VERSION,
        },
      });
      const code = await mail(email, /code is (\d{6})/);
      const token = (await api('POST', '/v1/auth/token', { json: { email, code } })).body.token as string;
      return { token, email, userId: (await api('GET', '/v1/me', { token })).body.id as string };
    },
    invitationToken: (email) => mail(email, /#\/join\?token=([A-Za-z0-9_.-]+)/),
    uploadJudged: async (token, photo) => {
      const form = new FormData();
      form.append('photo', new Blob([new Uint8Array(photo)], { type: 'image/png' }), 'astronaut.png');
      const up = (await (
        await fetch(`${stack.url}/v1/photos`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}` },
          body: form,
        })
      ).json()) as { id: string };
      for (;;) {
        const p = (await api('GET', `/v1/photos/${up.id}`, { token })).body;
        if (!['preparing', 'analysing'].includes(p.status)) return p.id as string;
        await sleep(200);
      }
    },
    until: async (check, timeoutMs, what) => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const v = await check();
        if (v) return v;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await sleep(200);
      }
    },
  };
  const photo = await readFile(new URL('../test/fixtures/astronaut.png', import.meta.url));
  const times: number[] = [];
  const sizes: number[] = [];
  try {
    for (let r = 0; r < RUNS; r++) {
      const run = await runTeam(harness, N, photo);
      const heads = [...run.entries.keys()].filter((k) => k.startsWith('headshots/')).length;
      times.push(run.ms);
      sizes.push(run.zipBytes);
      console.log(
        `run ${r + 1}: team of ${N}, invitations to the admin's ZIP ${(run.ms / 1000).toFixed(1)} s; ZIP ${(run.zipBytes / 1024 / 1024).toFixed(2)} MB (${run.zipBytes} bytes: ${heads} headshots, ${heads} profile squares, members.csv)`,
      );
    }
    console.log(
      `median of ${RUNS}: ${(median(times) / 1000).toFixed(1)} s, ZIP ${(median(sizes) / 1024 / 1024).toFixed(2)} MB; ${stack.config.RENDER_CONCURRENCY} render jobs at once, ${stack.config.PIXEL_THREADS} pixel threads, load average ${(await import('node:os')).loadavg()[0].toFixed(1)}`,
    );
  } finally {
    await stack.stop();
  }
}

await main();
process.exit(0);

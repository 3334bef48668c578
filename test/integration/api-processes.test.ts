import { NEWEST_SHIPPED_POLICY_VERSION } from '../../policies';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/platform/config';
import { childEnv, exitWithin, freePort, spawnRole, type Child } from '../faults/support';
import { startStack, until, type Stack } from '../support/stack';

let stack: Stack;
let api: Child | undefined;
beforeAll(async () => {
  stack = await startStack({ role: 'api' });
});
afterAll(async () => {
  if (api?.proc.exitCode === null) api.proc.kill('SIGKILL');
  await stack?.stop();
});

/** The pids of a process's children (Linux). */
async function childrenOf(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.trim().split(/\s+/).filter(Boolean).map(Number);
}

describe('API_PROCESSES', () => {
  it('runs N API processes on one port, starts another when one dies, and stops them all on SIGTERM', async () => {
    const port = await freePort();
    api = spawnRole(
      'api',
      childEnv(stack, { PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}`, API_PROCESSES: '2' }),
    );
    const base = `http://127.0.0.1:${port}`;
    const pid = api.proc.pid!;
    const ready = async () =>
      (await childrenOf(pid)).length === 2 && (await fetch(`${base}/healthz`).catch(() => null))?.ok;
    await until(ready, 60_000, 'two API processes to answer');
    const first = await childrenOf(pid);

    // Real work through the shared port: registrations write rows and mail codes.
    for (let i = 0; i < 4; i++) {
      const email = `procs${i}-${Date.now()}@example.com`;
      const reg = await fetch(`${base}/v1/accounts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', connection: 'close' },
        body: JSON.stringify({
          email,
          name: 'P',
          confirms_adult: true,
          accepted_policy_version: NEWEST_SHIPPED_POLICY_VERSION,
        }),
      });
      expect(reg.status).toBe(202);
      await until(async () => stack.postmark.to(email).length === 1, 10_000, 'the sign-in code email');
    }

    process.kill(first[0], 'SIGKILL');
    await until(
      async () => {
        const now = await childrenOf(pid);
        return now.length === 2 && !now.includes(first[0]) && (await fetch(`${base}/healthz`).catch(() => null))?.ok;
      },
      60_000,
      'a new API process to replace the killed one',
    );

    const before = await childrenOf(pid);
    api.proc.kill('SIGTERM');
    expect(await exitWithin(api, 20_000), api.output()).toMatchObject({ code: 0, signal: null });
    for (const p of before) expect(() => process.kill(p, 0)).toThrow();
  });

  it('needs S3_ENDPOINT for more than one process (each would start its own in-process S3 server)', () => {
    expect(() => loadConfig({ API_PROCESSES: '2' })).toThrow(/API_PROCESSES: more than 1 needs S3_ENDPOINT/);
    expect(loadConfig({ API_PROCESSES: '3', S3_ENDPOINT: 'http://127.0.0.1:9000' }).API_PROCESSES).toBe(3);
  });
});

import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, freePort, placeOrder, spawnRole, waitForOrder, type Child } from '../faults/support';
import { signUp, startStack, until, type Stack } from '../support/stack';

// The images run the bundle (`npm run build` → dist/main.mjs, no TypeScript loader): a role must
// find its policies, models, Swagger assets and pixel-thread bundle from there.
let stack: Stack;
const children: Child[] = [];
beforeAll(async () => {
  execFileSync('npm', ['run', 'build'], { stdio: 'pipe' });
  stack = await startStack({ role: 'api' });
});
afterAll(async () => {
  for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
  await stack?.stop();
});

describe('the bundle the images run', () => {
  it('serves the API and its reference page, and a bundled worker completes an order, both stopping cleanly on SIGTERM', async () => {
    const port = await freePort();
    const api = spawnRole(
      'api',
      childEnv(stack, { PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` }),
      'bundle',
    );
    const worker = spawnRole('worker', childEnv(stack), 'bundle');
    children.push(api, worker);
    const base = `http://127.0.0.1:${port}`;
    await until(
      async () => (await fetch(`${base}/healthz`).catch(() => null))?.ok,
      30_000,
      'the bundled API to answer',
    );
    expect((await fetch(`${base}/docs/assets/swagger-ui.css`)).status).toBe(200);
    expect(((await (await fetch(`${base}/openapi.json`)).json()) as { openapi: string }).openapi).toMatch(/^3\.1/);
    expect((await fetch(`${base}/v1/policy`)).status).toBe(200);
    // The API role never loads ONNX Runtime (the worker's code is a separate chunk of the bundle).
    expect(await readFile(`/proc/${api.proc.pid}/maps`, 'utf8')).not.toContain('onnxruntime');

    const me = await signUp(stack);
    const orderId = await placeOrder(stack, me.token, ['studio-grey']);
    expect(await waitForOrder(stack, orderId)).toBe('ready');
    expect(
      await stack.ctx.db.selectFrom('headshots').select('status').where('order_id', '=', orderId).execute(),
    ).toEqual([{ status: 'rendered' }]);

    for (const c of [api, worker]) c.proc.kill('SIGTERM');
    for (const c of [api, worker]) expect(await c.exit, c.output()).toEqual({ code: 0, signal: null });
  });
});

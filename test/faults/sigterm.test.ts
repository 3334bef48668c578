import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, signUp, startStack, until, type Stack } from '../support/stack';
import { activeRender, childEnv, freePort, placeOrder, spawnRole, type Child } from './support';

let stack: Stack;
const children: Child[] = [];
beforeAll(async () => {
  stack = await startStack({ role: 'api' });
});
afterAll(async () => {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  await stack?.stop();
});

describe('SIGTERM during work', () => {
  it('a worker finishes the render it holds and exits 0', async () => {
    const me = await signUp(stack);
    const worker = spawnRole('worker', childEnv(stack, { RENDER_CONCURRENCY: '1' }));
    children.push(worker);
    const orderId = await placeOrder(stack, me.token, ['studio-grey']);
    const job = await activeRender(stack);
    worker.proc.kill('SIGTERM');
    const { code } = await worker.exit;
    expect(code, worker.output()).toBe(0);
    const h = await stack.ctx.db.selectFrom('headshots').select(['status', 'blob_id']).where('id', '=', job.data.headshotId).executeTakeFirstOrThrow();
    expect(h.status).toBe('rendered');
    expect(h.blob_id).toBeTruthy();
    expect((await stack.ctx.queues.byName.rendering.getJob(job.id!))?.finishedOn).toBeTruthy();
    expect(orderId).toBeTruthy();
  });

  it('an API finishes the request in flight and exits 0', async () => {
    const me = await signUp(stack);
    const port = await freePort();
    const api = spawnRole('api', childEnv(stack, { PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` }));
    children.push(api);
    await until(async () => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false), 30_000, 'api child to listen');

    // A multipart upload whose body we hold back until after SIGTERM.
    const photo = await fixture('astronaut.png');
    const boundary = 'faultboundary';
    const head = Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="photo"; filename="a.png"\r\ncontent-type: image/png\r\n\r\n`);
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/photos', agent: false, headers: { authorization: `Bearer ${me.token}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': head.length + photo.length + tail.length } });
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req.on('response', (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
    });
    req.write(head);
    req.write(photo.subarray(0, 1000));
    await new Promise((r) => setTimeout(r, 300));
    api.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    req.end(Buffer.concat([photo.subarray(1000), tail]));

    const res = await response;
    expect(res.status, res.body).toBe(201);
    const { code } = await api.exit;
    expect(code, api.output()).toBe(0);
    const id = JSON.parse(res.body).id as string;
    expect(await stack.ctx.db.selectFrom('photos').select('id').where('id', '=', id).executeTakeFirst()).toBeTruthy();
  });
});

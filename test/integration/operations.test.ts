import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp, startStack, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ role: 'api' });
});
afterAll(async () => {
  await stack?.stop();
});

async function staff(role: 'support' | 'admin') {
  const s = await signUp(stack);
  await stack.ctx.db.updateTable('users').set({ role }).where('id', '=', s.userId).execute();
  return s;
}

describe('operations', () => {
  it('readyz reports Postgres, Redis and storage; healthz answers', async () => {
    expect((await stack.api('GET', '/healthz')).body).toEqual({ status: 'ok' });
    const ready = await stack.api('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ postgres: 'ok', redis: 'ok', storage: 'ok' });
  });

  it('SC3 Bull Board answers 401 without a token and 403 to a customer', async () => {
    expect((await stack.api('GET', '/admin/queues')).status).toBe(401);
    const customer = await signUp(stack);
    const res = await stack.api('GET', '/admin/queues', { token: customer.token });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('forbidden');
  });

  it('SC3 Bull Board is read-only for support staff and full for admins', async () => {
    const support = await staff('support');
    const admin = await staff('admin');
    const page = await stack.api('GET', '/admin/queues', { token: support.token });
    expect(page.status).toBe(200);
    const list = async (token: string) => (await stack.api('GET', '/admin/queues/api/queues?activeQueue=analysis&page=1&jobsPerPage=10', { token })).body;
    const forSupport = await list(support.token);
    const forAdmin = await list(admin.token);
    expect(forSupport.queues.map((q: { name: string }) => q.name).sort()).toEqual(["analysis", "delivery", "preparation", "privacy", "rendering", "sweeps"]);
    expect(forSupport.queues.every((q: { readOnlyMode: boolean }) => q.readOnlyMode)).toBe(true);
    expect(forAdmin.queues.every((q: { readOnlyMode: boolean }) => !q.readOnlyMode)).toBe(true);
  });

  it('the dashboard cookie is set from a staff token and is HttpOnly', async () => {
    const support = await staff('support');
    const res = await stack.api('POST', '/admin/session', { token: support.token });
    expect(res.status).toBe(204);
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/rasmi_admin=/);
    expect(cookie).toMatch(/HttpOnly/i);
    const viaCookie = await stack.api('GET', '/admin/queues', { headers: { cookie: cookie.split(';')[0] } });
    expect(viaCookie.status).toBe(200);
  });

  it('errors are problem+json with a stable code; unknown routes are 404 route_not_found', async () => {
    const res = await stack.api('GET', '/v1/nothing-here');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body).toMatchObject({ status: 404, code: 'route_not_found', type: expect.stringContaining('route_not_found') });
    const bad = await stack.api('POST', '/v1/accounts', { body: '{"email": ', headers: { 'content-type': 'application/json' } });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('malformed_json');
  });

  it('every response carries a request id, and one sent by the client is kept', async () => {
    const res = await stack.api('GET', '/healthz', { headers: { 'x-request-id': 'client-trace-123' } });
    expect(res.headers.get('x-request-id')).toBe('client-trace-123');
    expect((await stack.api('GET', '/healthz')).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

import { appRoutes } from '@bull-board/api/dist/routes.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countJobs } from '../support/jobs';
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

type Call = { method: string; path: string };
const BOARD = '/admin/queues';

/**
 * Every staff and admin route in the OpenAPI document (route() documents 403 forbidden for a
 * staff role), with path parameters filled by a dummy id. Paths under /v1/staff, /v1/admin and
 * /admin are swept too, so one that was declared for plain users is caught rather than skipped.
 */
async function documentedStaffRoutes(): Promise<Call[]> {
  const doc = (await stack.api('GET', '/openapi.json')).body;
  return Object.entries(
    doc.paths as Record<
      string,
      Record<string, { security?: unknown[]; tags?: string[]; responses: Record<string, unknown> }>
    >,
  ).flatMap(([p, ops]) =>
    Object.entries(ops)
      // An organisation's routes answer 403 to a member without the role there, not to every customer
      // (teams.test.ts sweeps them as another organisation's admin).
      .filter(([, op]) => !op.tags?.includes('Organisations'))
      .filter(([, op]) => (!!op.security?.length && '403' in op.responses) || /^\/(v1\/)?(staff|admin)\//.test(p))
      .map(([m]) => ({ method: m.toUpperCase(), path: p.replace(/\{\w+\}/g, 'dummy-id') })),
  );
}

/** Every page and API route Bull Board serves under its mount, from its own route table. */
function boardRoutes(jobId = 'dummy-id'): Call[] {
  const fill = (r: string) =>
    BOARD +
    r
      .replace(':queueName', 'analysis')
      .replace(':jobId', jobId)
      .replace(':queueStatus', 'failed')
      .replace(/:\w+/g, 'dummy-id');
  return [appRoutes.entryPoint, ...appRoutes.api].flatMap((def) =>
    [def.method].flat().flatMap((m) => [def.route].flat().map((r) => ({ method: m.toUpperCase(), path: fill(r) }))),
  );
}

describe('operations', () => {
  it('readyz reports Postgres, Redis and storage; healthz answers', async () => {
    expect((await stack.api('GET', '/healthz')).body).toEqual({ status: 'ok' });
    const ready = await stack.api('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ postgres: 'ok', redis: 'ok', storage: 'ok' });
  });

  it('SC3 every staff and admin route, Bull Board included, answers 401 without a token and 403 to a customer', async () => {
    const customer = await signUp(stack);
    const api = await documentedStaffRoutes();
    expect(api.length).toBeGreaterThanOrEqual(10);
    expect(api).toContainEqual({ method: 'POST', path: '/admin/session' });
    const routes = [...api, ...boardRoutes()];
    const wrong: string[] = [];
    for (const r of routes) {
      const anonymous = await stack.api(r.method, r.path);
      if (anonymous.status !== 401 || anonymous.body.code !== 'unauthorized')
        wrong.push(`${r.method} ${r.path} without a token: ${anonymous.status}`);
      const asCustomer = await stack.api(r.method, r.path, { token: customer.token });
      if (asCustomer.status !== 403 || asCustomer.body.code !== 'forbidden')
        wrong.push(`${r.method} ${r.path} as a customer: ${asCustomer.status}`);
    }
    expect(wrong).toEqual([]);
  });

  it('SC3 Bull Board is read-only for support staff and full for admins', async () => {
    const support = await staff('support');
    const admin = await staff('admin');
    const page = await stack.api('GET', '/admin/queues', { token: support.token });
    expect(page.status).toBe(200);
    const list = async (token: string) =>
      (await stack.api('GET', '/admin/queues/api/queues?activeQueue=analysis&page=1&jobsPerPage=10', { token })).body;
    const forSupport = await list(support.token);
    const forAdmin = await list(admin.token);
    expect(forSupport.queues.map((q: { name: string }) => q.name).sort()).toEqual([
      'analysis',
      'delivery',
      'preparation',
      'privacy',
      'rendering',
      'sweeps',
    ]);
    expect(forSupport.queues.every((q: { readOnlyMode: boolean }) => q.readOnlyMode)).toBe(true);
    expect(forAdmin.queues.every((q: { readOnlyMode: boolean }) => !q.readOnlyMode)).toBe(true);
  });

  it('SC3 support staff cannot change a queue or job through Bull Board; an admin can', async () => {
    const support = await staff('support');
    const admin = await staff('admin');
    const { queues } = stack.ctx;
    const job = await queues.byName.analysis.add('probe', { probe: true }, { delay: 3600_000 });
    const jobs = await countJobs(queues);
    // One body valid for every action (Bull Board validates it first), so each reaches the read-only check.
    const body = {
      concurrency: 1,
      priority: 1,
      runAt: Date.now() + 7200_000,
      jobData: { probe: false },
      every: 60_000,
    };
    const wrong: string[] = [];
    for (const r of boardRoutes(job.id).filter((r) => r.method !== 'GET')) {
      const res = await stack.api(r.method, r.path, { token: support.token, json: body });
      // Actions on one queue or job are refused on a read-only queue; pause-all and resume-all answer 200 but skip read-only queues (checked below).
      const expected = r.path.includes('/analysis')
        ? res.status === 405 && res.body.error?.key === 'ERRORS.QUEUE_READ_ONLY'
        : res.status === 200;
      if (!expected) wrong.push(`${r.method} ${r.path}: ${res.status}`);
    }
    expect(wrong).toEqual([]);
    for (const q of Object.values(queues.byName)) expect(await q.isPaused()).toBe(false);
    expect(await countJobs(queues)).toBe(jobs);
    const after = (await queues.byName.analysis.getJob(job.id!))!;
    expect([await after.getState(), after.data, after.priority, after.delay]).toEqual([
      'delayed',
      { probe: true },
      0,
      3600_000,
    ]);
    // The same request from an admin does change the job, so the refusals above were not vacuous.
    expect(
      (await stack.api('PUT', `${BOARD}/api/queues/analysis/${job.id}/promote`, { token: admin.token })).status,
    ).toBe(204);
    expect(await job.getState()).toBe('waiting');
    await job.remove();
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
    expect(res.body).toMatchObject({
      status: 404,
      code: 'route_not_found',
      type: expect.stringContaining('route_not_found'),
    });
    const bad = await stack.api('POST', '/v1/accounts', {
      body: '{"email": ',
      headers: { 'content-type': 'application/json' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('malformed_json');
  });

  it('every response carries a request id, and one sent by the client is kept', async () => {
    const res = await stack.api('GET', '/healthz', { headers: { 'x-request-id': 'client-trace-123' } });
    expect(res.headers.get('x-request-id')).toBe('client-trace-123');
    expect((await stack.api('GET', '/healthz')).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

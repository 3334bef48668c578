import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS } from '../../core/platform/config';
import { QUEUE_NAMES } from '../../core/platform/jobs';
import { metricsAccess } from '../../core/platform/metrics';
import { serveMetrics } from '../../core/platform/metrics-server';
import { sweepHandlers } from '../../scheduler/sweeps';
import { parseExposition as parse, samplesOf as find, type Sample } from '../support/prometheus';
import { fixture, signUp, startStack, until, type Stack, uploadJudged } from '../support/stack';

const TOKEN = 'metrics-scrape-token-0123456789abcdef';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ role: 'all', env: { METRICS_TOKEN: TOKEN } });
});
afterAll(async () => {
  await stack?.stop();
});

async function scrape(): Promise<{ text: string; samples: Sample[] }> {
  const res = await stack.api('GET', '/metrics', { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  const text = Buffer.from(res.body).toString('utf8');
  return { text, samples: parse(text) };
}

describe('/metrics', () => {
  it('answers 401 without the token or with a wrong one, and is disabled in production without a token', async () => {
    const none = await stack.api('GET', '/metrics');
    expect(none.status).toBe(401);
    expect(none.body.code).toBe('unauthorized');
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect((await stack.api('GET', '/metrics', { headers: { authorization: `Bearer ${TOKEN}x` } })).status).toBe(401);
    expect(metricsAccess({ NODE_ENV: 'production', METRICS_TOKEN: undefined }, `Bearer ${TOKEN}`)).toBe('disabled');
    expect(metricsAccess({ NODE_ENV: 'production', METRICS_TOKEN: TOKEN }, `Bearer ${TOKEN}`)).toBe('ok');
  });

  it('reports HTTP latency by route pattern, queue depth per state, job and inference durations after an order, and sweep results', async () => {
    const me = await signUp(stack);
    const up = { body: await uploadJudged(stack, me.token, await fixture('astronaut.png')) };
    expect(up.body.status).toBe('usable');
    const photoId = up.body.id as string;
    expect((await stack.api('GET', `/v1/photos/${photoId}`, { token: me.token })).status).toBe(200);
    expect((await stack.api('GET', `/v1/no-such-route/${photoId}`)).status).toBe(404);
    const created = await stack.api('POST', '/v1/orders', {
      token: me.token,
      json: { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [photoId] },
    });
    expect(created.status).toBe(201);
    const orderId = created.body.order.id as string;
    const status = await until(
      async () => {
        const o = await stack.api('GET', `/v1/orders/${orderId}`, { token: me.token });
        return ['ready', 'failed'].includes(o.body.status) && (o.body.status as string);
      },
      50_000,
      'the order to settle',
    );
    expect(status).toBe('ready');

    // Sweep results: a month later the retention sweep finds the original due (RT1).
    stack.clock.advance(stack.config.RETENTION_ORIGINALS_DAYS * DAY_MS + 60_000);
    await sweepHandlers['sweep.retention'](stack.ctx, {}, {} as Job);

    const { text, samples } = await scrape();
    // HTTP: the route pattern, never the raw URL with its ids.
    const photoGets = find(samples, 'rasmi_http_request_duration_seconds_count', {
      method: 'GET',
      route: '/v1/photos/:id',
      status: '200',
    });
    expect(photoGets).toHaveLength(1);
    expect(photoGets[0].value).toBeGreaterThanOrEqual(1);
    expect(
      find(samples, 'rasmi_http_request_duration_seconds_bucket', { route: '/v1/photos/:id', le: '+Inf' }),
    ).toHaveLength(1);
    expect(
      find(samples, 'rasmi_http_request_duration_seconds_count', {
        method: 'POST',
        route: '/v1/orders',
        status: '201',
      })[0].value,
    ).toBe(1);
    expect(
      find(samples, 'rasmi_http_request_duration_seconds_count', { route: 'unmatched', status: '404' })[0].value,
    ).toBeGreaterThanOrEqual(1);
    for (const secret of [photoId, orderId, me.userId, me.token, '/v1/no-such-route'])
      expect(text).not.toContain(secret);

    // Queue depth: every state of each of the six queues.
    expect(QUEUE_NAMES).toHaveLength(6);
    for (const queue of QUEUE_NAMES) {
      for (const state of ['waiting', 'active', 'delayed', 'completed', 'failed'])
        expect(find(samples, 'rasmi_queue_jobs', { queue, state }), `${queue} ${state}`).toHaveLength(1);
    }
    expect(
      find(samples, 'rasmi_queue_jobs', { queue: 'rendering', state: 'completed' })[0].value,
    ).toBeGreaterThanOrEqual(1);

    // Job durations per queue and job, inference per model.
    for (const [queue, job] of [
      ['preparation', 'photo.prepare'],
      ['analysis', 'photo.analyse'],
      ['rendering', 'headshot.render'],
      ['delivery', 'order.deliver'],
    ]) {
      const count = find(samples, 'rasmi_job_duration_seconds_count', { queue, job, status: 'completed' });
      expect(count[0]?.value, `${queue} ${job}`).toBeGreaterThanOrEqual(1);
      expect(
        find(samples, 'rasmi_job_duration_seconds_sum', { queue, job, status: 'completed' })[0].value,
      ).toBeGreaterThan(0);
    }
    const models = find(samples, 'rasmi_model_inference_seconds_count', {}).map((s) => s.labels.model);
    // Models are named by their ONNX file (or style graph): detector, landmarks, matting, style.
    expect(models).toEqual(
      expect.arrayContaining([
        'face_detection_back_256x256_barracuda',
        'facemesh',
        'selfie',
        'style-graph:studio-grey',
      ]),
    );
    expect(find(samples, 'rasmi_model_inference_seconds_sum', { model: 'facemesh' })[0].value).toBeGreaterThan(0);

    expect(find(samples, 'rasmi_sweep_items_total', { sweep: 'retention', kind: 'photos' })[0].value).toBe(1);
    expect(find(samples, 'rasmi_sweep_items_total', { sweep: 'retention', kind: 'users' })[0].value).toBe(0);
    // Process figures for the load test (RSS).
    expect(find(samples, 'rasmi_process_resident_memory_bytes', {})[0].value).toBeGreaterThan(0);
  });

  it('worker and scheduler roles serve the same metrics on METRICS_PORT behind the same token', async () => {
    const { server, port } = await serveMetrics(stack.ctx, 0, '127.0.0.1');
    try {
      const url = `http://127.0.0.1:${port}/metrics`;
      expect((await fetch(url)).status).toBe(401);
      expect(
        (await fetch(`http://127.0.0.1:${port}/other`, { headers: { authorization: `Bearer ${TOKEN}` } })).status,
      ).toBe(404);
      const ok = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toMatch(
        /^rasmi_job_duration_seconds_count\{queue="rendering",job="headshot.render",status="completed"\} [1-9]/m,
      );
      // Kubernetes probes need no token: liveness, and readiness of Postgres, Redis and storage.
      expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()).toEqual({ status: 'ok' });
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok', storage: 'ok' } });
    } finally {
      server.close();
    }
  });

  it('readyz on METRICS_PORT answers 503 naming the service that is down', async () => {
    const broken = {
      ...stack.ctx,
      storage: { ping: () => Promise.reject(new Error('down')) },
    } as unknown as typeof stack.ctx;
    const { server, port } = await serveMetrics(broken, 0, '127.0.0.1');
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({
        status: 'unavailable',
        checks: { postgres: 'ok', redis: 'ok', storage: 'down' },
      });
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    } finally {
      server.close();
    }
  });

  it('WORKER_QUEUES narrows the queues a worker process takes (GPU workers: analysis and rendering)', async () => {
    const { startPipelineWorkers } = await import('../../worker');
    const ctx = { ...stack.ctx, config: { ...stack.ctx.config, WORKER_QUEUES: ['analysis', 'rendering'] } };
    const running = await startPipelineWorkers(ctx);
    try {
      expect(running.workers.map((w) => w.name)).toEqual(['analysis', 'rendering']);
    } finally {
      await running.close();
    }
  });
});

import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_KEYS, ConfigError, loadConfig } from '../../core/platform/config';
import { JOBS, QUEUE_NAMES } from '../../core/platform/jobs';
import { checkHandlers } from '../../core/platform/workers';
import { sweepHandlers } from '../../scheduler/sweeps';
import { pipelineHandlers } from '../../worker/handlers';
import { PIPELINE_QUEUES } from '../../core/platform/queues';

type Service = {
  command?: string[];
  healthcheck?: { test: string[] };
  deploy?: { replicas?: unknown; resources?: unknown };
  profiles?: string[];
  environment?: Record<string, string>;
};

describe('docker-compose.yml', () => {
  it('runs postgres, redis (noeviction, AOF), minio, migrate and each role with health checks', async () => {
    const compose = parse(await readFile('docker-compose.yml', 'utf8'), { merge: true }) as {
      services: Record<string, Service>;
    };
    const s = compose.services;
    expect(Object.keys(s)).toEqual(
      expect.arrayContaining(['postgres', 'redis', 'minio', 'migrate', 'api', 'worker', 'worker-gpu', 'scheduler']),
    );
    expect(s.redis.command).toEqual(
      expect.arrayContaining(['--maxmemory-policy', 'noeviction', '--appendonly', 'yes']),
    );
    for (const name of ['postgres', 'redis', 'minio', 'api', 'worker', 'scheduler'])
      expect(s[name].healthcheck?.test.length, name).toBeGreaterThan(1);
    expect(s.api.command).toEqual(['api']);
    expect(s.worker.command).toEqual(['worker']);
    expect(s.scheduler.command).toEqual(['scheduler']);
    // The images run the bundle that test/integration/bundle.test.ts starts; health checks too.
    for (const name of ['worker', 'worker-gpu', 'scheduler'])
      expect(s[name].healthcheck?.test, name).toEqual(['CMD', 'node', 'dist/main.mjs', 'healthcheck']);
    const dockerfile = await readFile('Dockerfile', 'utf8');
    expect(dockerfile.match(/npm run build/g)).toHaveLength(2);
    // Both images preload jemalloc with one arena, as bench:worker-memory measures the worker.
    expect(dockerfile.match(/^ENV LD_PRELOAD=.*libjemalloc\.so\.2\nENV MALLOC_CONF=narenas:1$/gm)).toHaveLength(2);
    expect(dockerfile.match(/^ENTRYPOINT .*$/gm)).toEqual([
      'ENTRYPOINT ["node", "dist/main.mjs"]',
      'ENTRYPOINT ["node", "dist/main.mjs"]',
    ]);
    expect(String(s.worker.deploy?.replicas)).toContain('WORKER_REPLICAS');
    expect(s['worker-gpu'].profiles).toEqual(['gpu']);
    expect(JSON.stringify(s['worker-gpu'].deploy?.resources)).toContain('nvidia');
    expect(s['worker-gpu'].environment?.ONNX_PROVIDERS).toBe('cuda,cpu');
    // Every variable the app needs in production is given to it.
    expect(Object.keys(s.api.environment ?? {})).toEqual(
      expect.arrayContaining([
        'DATABASE_URL',
        'REDIS_URL',
        'S3_ENDPOINT',
        'MASTER_KEYS',
        'PII_KEYS',
        'PII_HASH_KEY',
        'LINK_SECRET',
        'POSTMARK_TOKEN',
      ]),
    );
  });
});

describe('configuration', () => {
  it('every setting is documented in docs/configuration.md', async () => {
    const page = await readFile('docs/configuration.md', 'utf8');
    expect(CONFIG_KEYS.filter((k) => !page.includes(`\`${k}\``))).toEqual([]);
  });

  it('has safe local defaults', () => {
    const c = loadConfig({});
    expect(c.NODE_ENV).toBe('development');
    expect(c.RETENTION_ORIGINALS_DAYS).toBe(30);
    expect(c.ONNX_PROVIDERS).toEqual(['cpu']);
  });

  it('a wrong value stops start-up with a message that names the variable', () => {
    expect(() => loadConfig({ UPLOAD_MAX_BYTES: 'lots' })).toThrow(/UPLOAD_MAX_BYTES/);
    expect(() => loadConfig({ MASTER_KEYS: 'k1:abc' })).toThrow(/MASTER_KEYS/);
  });

  it('production refuses missing secrets, local keys and the local processor, naming each', () => {
    let err: unknown;
    try {
      loadConfig({ NODE_ENV: 'production' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    for (const v of [
      'MASTER_KEYS',
      'PII_KEYS',
      'LINK_SECRET',
      'DATABASE_URL',
      'S3_ENDPOINT',
      'PAYMENT_PROCESSOR',
      'POSTMARK_TOKEN',
      'APP_URL',
    ])
      expect(msg).toContain(v);
  });
});

describe('the job registry', () => {
  it('every job has exactly one handler across the roles, and start-up fails otherwise', () => {
    expect(() => checkHandlers(pipelineHandlers, PIPELINE_QUEUES)).not.toThrow();
    expect(() => checkHandlers(sweepHandlers, ['sweeps'])).not.toThrow();
    const covered = [...Object.keys(pipelineHandlers), ...Object.keys(sweepHandlers)].sort();
    expect(covered).toEqual(Object.keys(JOBS).sort());
    const { 'order.deliver': _dropped, ...missing } = pipelineHandlers;
    expect(() => checkHandlers(missing, PIPELINE_QUEUES)).toThrow(/missing \[order.deliver\]/);
    expect(() => checkHandlers({ ...pipelineHandlers, 'photo.bogus': async () => {} }, PIPELINE_QUEUES)).toThrow(
      /unknown \[photo.bogus\]/,
    );
    expect([...PIPELINE_QUEUES, 'sweeps'].sort()).toEqual([...QUEUE_NAMES].sort());
  });

  it('RT6 job payloads carry ids only: a payload with personal data is refused by its schema', () => {
    expect(JOBS['photo.analyse'].payload.safeParse({ photoId: 'pho_def' }).success).toBe(true);
    expect(JOBS['photo.analyse'].payload.safeParse({ photoId: 'pho_def', email: 'a@b.c' }).data).not.toHaveProperty(
      'email',
    );
    expect(JOBS['photo.analyse'].payload.safeParse({ photoId: 'someone@example.com' }).success).toBe(false);
    expect(JOBS['order.deliver'].payload.safeParse({ orderId: 'someone@example.com' }).success).toBe(false);
  });
});

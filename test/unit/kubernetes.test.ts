import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { CONFIG_KEYS, loadConfig, PIPELINE_QUEUE_NAMES } from '../../core/platform/config';
import { CONFIG_ENV_PATH, renderConfigEnv, SECRET_KEYS } from '../../scripts/kubernetes-config';

/**
 * deploy/kubernetes rendered by Kustomize (`kubectl kustomize`, the kubectl on this kind of machine)
 * and checked against a schema of what the roles need: probes on /healthz and /readyz, requests and
 * limits, grace periods longer than the longest job, the GPU fields and the KEDA triggers. There is
 * no API server here, so the schema is the project's own (zod), not the cluster's.
 */
const quantity = z.union([z.string().regex(/^\d+(\.\d+)?(m|Mi|Gi)?$/), z.number()]);
const probe = (path: '/healthz' | '/readyz') => z.object({ httpGet: z.object({ path: z.literal(path), port: z.union([z.string(), z.number()]) }), periodSeconds: z.number().int().positive() });
const container = z.object({
  name: z.string(),
  image: z.string().regex(/^registry\.example\.com\/rasmi:(cpu|gpu)-/),
  args: z.tuple([z.enum(['api', 'worker', 'scheduler', 'migrate'])]),
  envFrom: z.tuple([z.object({ configMapRef: z.object({ name: z.string().startsWith('rasmi-config-') }) }), z.object({ secretRef: z.object({ name: z.literal('rasmi-secrets') }) })]),
  env: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
  resources: z.object({
    requests: z.object({ cpu: quantity, memory: quantity }).catchall(quantity),
    limits: z.object({ memory: quantity }).catchall(quantity),
  }),
});
const serving = container.extend({ livenessProbe: probe('/healthz'), readinessProbe: probe('/readyz') });
const podSpec = <C extends z.ZodType>(c: C) => z.object({ terminationGracePeriodSeconds: z.number().int().positive().optional(), containers: z.tuple([c]) }).passthrough();
const deployment = z.object({
  kind: z.literal('Deployment'),
  metadata: z.object({ name: z.string(), namespace: z.literal('rasmi') }),
  spec: z.object({ replicas: z.number().int().nonnegative(), template: z.object({ spec: podSpec(serving).extend({ terminationGracePeriodSeconds: z.number().int().positive() }) }) }).passthrough(),
});
const scaledObject = z.object({
  kind: z.literal('ScaledObject'),
  metadata: z.object({ name: z.string() }),
  spec: z.object({
    scaleTargetRef: z.object({ name: z.string() }),
    minReplicaCount: z.number().int().nonnegative(),
    maxReplicaCount: z.number().int().positive(),
    triggers: z.array(z.object({ type: z.literal('redis'), metadata: z.object({ addressFromEnv: z.literal('REDIS_ADDRESS'), passwordFromEnv: z.literal('REDIS_PASSWORD'), listName: z.string(), listLength: z.string().regex(/^[1-9]\d*$/), activationListLength: z.string() }) })).min(1),
  }),
});
const KINDS = ['ConfigMap', 'Service', 'Deployment', 'Job', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'ScaledObject'];

type Doc = { kind: string; metadata: { name: string }; spec?: any; data?: Record<string, string> };
type Deployment = z.infer<typeof deployment>;

function render(overlay: 'cpu' | 'gpu'): Doc[] {
  let text: string;
  try {
    text = execFileSync('kubectl', ['kustomize', `deploy/kubernetes/overlays/${overlay}`], { encoding: 'utf8' });
  } catch (err) {
    throw new Error(`kubectl kustomize failed (kubectl 1.27+ is on this kind of machine; README, Kubernetes): ${(err as Error).message}`);
  }
  return parseAllDocuments(text).map((d) => d.toJS() as Doc);
}
const byKind = (docs: Doc[], kind: string) => docs.filter((d) => d.kind === kind);
const named = (docs: Doc[], kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name.startsWith(name))!;
const envOf = (d: Deployment) => Object.fromEntries((d.spec.template.spec.containers[0].env ?? []).map((e) => [e.name, e.value]));
const mebibytes = (q: string | number) => (typeof q === 'number' ? q / 2 ** 20 : Number(q.replace(/Mi$|Gi$/, '')) * (q.endsWith('Gi') ? 1024 : 1));

/** Worker peak RSS with PIXEL_THREADS=2, MB (npm run bench:worker-memory; README, Worker memory). */
const WORKER_PEAK_MB = 686;
/** Longest job a worker runs, s: a full account's export (README, Kubernetes). */
const LONGEST_JOB_SECONDS = 45;

let waitKey: (queue: string, prefix: string) => string;
const queues: Queue[] = [];
beforeAll(() => {
  // The key BullMQ itself uses for a queue's wait list: what KEDA's Redis scaler must read.
  waitKey = (queue, prefix) => {
    const q = new Queue(queue, { prefix, connection: { host: '127.0.0.1', port: 6379, lazyConnect: true } });
    queues.push(q);
    return q.keys.wait;
  };
});
afterAll(async () => {
  await Promise.all(queues.map((q) => q.close()));
});

describe.each(['cpu', 'gpu'] as const)('deploy/kubernetes overlay %s', (overlay) => {
  const docs = render(overlay);
  const config = named(docs, 'ConfigMap', 'rasmi-config').data!;
  const deployments = byKind(docs, 'Deployment').map((d) => deployment.parse(d));
  const workers = deployments.filter((d) => d.metadata.name.startsWith('worker-'));

  it('renders only kinds the schema knows, every role with probes, requests and limits', () => {
    expect(docs.map((d) => d.kind).filter((k) => !KINDS.includes(k))).toEqual([]);
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(overlay === 'gpu' ? ['api', 'scheduler', 'worker-cpu', 'worker-gpu'] : ['api', 'scheduler', 'worker-cpu']);
    for (const d of deployments) {
      const c = d.spec.template.spec.containers[0];
      expect(mebibytes(c.resources.limits.memory), d.metadata.name).toBeGreaterThanOrEqual(mebibytes(c.resources.requests.memory));
      // Workers and the scheduler serve their probes on METRICS_PORT (core/platform/metrics-server.ts).
      if (c.args[0] !== 'api') expect(c.livenessProbe.httpGet.port === 'ops' && config.METRICS_PORT === '9464').toBe(true);
    }
    expect(named(docs, 'Deployment', 'scheduler').spec.replicas).toBe(1);
  });

  it('gives each role a grace period longer than its longest work, and workers memory above their measured peak', () => {
    const grace = (name: string) => deployments.find((d) => d.metadata.name === name)!.spec.template.spec.terminationGracePeriodSeconds;
    expect(grace('api')).toBeGreaterThan(loadConfig({}).HTTP_REQUEST_TIMEOUT_SECONDS);
    for (const w of workers) {
      expect(grace(w.metadata.name)).toBeGreaterThan(LONGEST_JOB_SECONDS);
      expect(mebibytes(w.spec.template.spec.containers[0].resources.limits.memory)).toBeGreaterThanOrEqual(WORKER_PEAK_MB * 1.15);
    }
  });

  it('is a valid production configuration: ConfigMap + Secret pass the service\'s own checks; no secret in the ConfigMap', async () => {
    expect(Object.keys(config).filter((k) => !CONFIG_KEYS.includes(k))).toEqual([]);
    expect(Object.keys(config).filter((k) => (SECRET_KEYS as readonly string[]).includes(k))).toEqual([]);
    expect(config.RUN_MIGRATIONS).toBe('false');
    const secret = parse(await readFile('deploy/kubernetes/secret.example.yaml', 'utf8')) as { stringData: Record<string, string> };
    expect(Object.keys(secret.stringData).sort()).toEqual([...SECRET_KEYS.filter((k) => k !== 'WHATSAPP_TOKEN'), 'REDIS_ADDRESS', 'REDIS_PASSWORD'].sort());
    // Placeholders replaced by well-formed values: production start-up checks accept the set.
    const filled = { ...secret.stringData, MASTER_KEYS: `k1:${'ab'.repeat(32)}`, PII_KEYS: `k1:${'cd'.repeat(32)}`, PII_HASH_KEY: 'ef'.repeat(32), METRICS_TOKEN: 'x'.repeat(32) };
    const c = loadConfig({ ...config, ...filled });
    expect([c.NODE_ENV, c.PAYMENT_PROCESSOR, c.QUEUE_PREFIX]).toEqual(['production', 'stripe', '{rasmi}']);
    expect(named(docs, 'Job', 'migrate').spec.template.spec.containers[0].args).toEqual(['migrate']);
  });

  it('scales every worker kind with KEDA on the BullMQ wait list of exactly the queues it takes', () => {
    const scaled = byKind(docs, 'ScaledObject').map((d) => scaledObject.parse(d));
    expect(scaled.map((s) => s.spec.scaleTargetRef.name).sort()).toEqual(workers.map((w) => w.metadata.name).sort());
    const taken: string[] = [];
    for (const w of workers) {
      const queuesOf = envOf(w).WORKER_QUEUES?.split(',') ?? [...PIPELINE_QUEUE_NAMES];
      taken.push(...queuesOf);
      const s = scaled.find((x) => x.spec.scaleTargetRef.name === w.metadata.name)!;
      expect(s.spec.triggers.map((t) => t.metadata.listName).sort(), w.metadata.name).toEqual(queuesOf.map((q) => waitKey(q, config.QUEUE_PREFIX)).sort());
      expect(s.spec.maxReplicaCount).toBeGreaterThan(s.spec.minReplicaCount);
    }
    // Each pipeline queue is taken by one worker kind, so no queue is left without workers.
    expect(taken.sort()).toEqual([...PIPELINE_QUEUE_NAMES].sort());
    expect(named(docs, 'ScaledObject', 'worker-cpu').spec.minReplicaCount).toBeGreaterThanOrEqual(1);
  });

  it('gives the API a Service, a PodDisruptionBudget and an HPA on CPU', () => {
    const podLabels = named(docs, 'Deployment', 'api').spec.template.metadata.labels;
    const matches = (sel: Record<string, string>) => Object.entries(sel).every(([k, v]) => podLabels[k] === v);
    expect(matches(named(docs, 'Service', 'api').spec.selector)).toBe(true);
    expect(matches(named(docs, 'PodDisruptionBudget', 'api').spec.selector.matchLabels)).toBe(true);
    const hpa = named(docs, 'HorizontalPodAutoscaler', 'api').spec;
    expect(hpa.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'api' });
    expect(hpa.metrics[0].resource.name).toBe('cpu');
    expect(hpa.minReplicas).toBeGreaterThanOrEqual(2);
  });

  it.runIf(overlay === 'gpu')('puts GPU workers on GPU nodes with one nvidia.com/gpu, CUDA first, from 0 replicas', () => {
    const gpu = workers.find((w) => w.metadata.name === 'worker-gpu')!;
    const pod = gpu.spec.template.spec as unknown as { nodeSelector: Record<string, string>; tolerations: { key: string }[]; containers: { resources: { limits: Record<string, string> } }[] };
    expect(pod.containers[0].resources.limits['nvidia.com/gpu']).toBe('1');
    expect(pod.nodeSelector['nvidia.com/gpu.present']).toBe('true');
    expect(pod.tolerations.map((t) => t.key)).toContain('nvidia.com/gpu');
    expect(envOf(gpu)).toMatchObject({ ONNX_PROVIDERS: 'cuda,cpu', WORKER_QUEUES: 'analysis,rendering' });
    expect(gpu.spec.template.spec.containers[0].image).toMatch(/:gpu-/);
    expect(named(docs, 'ScaledObject', 'worker-gpu').spec.minReplicaCount).toBe(0);
  });
});

describe('the ConfigMap', () => {
  it('is generated from the README configuration table (npm run kubernetes:config)', async () => {
    expect(await readFile(CONFIG_ENV_PATH, 'utf8')).toBe(renderConfigEnv(await readFile('README.md', 'utf8')));
  });

  it('WORKER_QUEUES accepts pipeline queues only', () => {
    expect(loadConfig({ WORKER_QUEUES: 'analysis, rendering' }).WORKER_QUEUES).toEqual(['analysis', 'rendering']);
    expect(() => loadConfig({ WORKER_QUEUES: 'rendering,sweeps' })).toThrow(/WORKER_QUEUES/);
  });
});

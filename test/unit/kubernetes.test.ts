import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { z } from 'zod';
import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { PodMonitor, PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { MULTIPART_ENVELOPE_BYTES } from '../../api/multipart';
import { backlogs } from '../../core/platform/backlog';
import { CONFIG_KEYS, loadConfig } from '../../core/platform/config';
import { PIPELINE_QUEUES } from '../../core/platform/queues';
import { Queues } from '../../core/platform/jobs';
import { enableProcessMetrics, registry } from '../../core/platform/metrics';
import { CONFIG_ENV_PATH, CONFIGURATION_DOC, renderConfigEnv, SECRET_KEYS } from '../../scripts/kubernetes-config';

/**
 * deploy/kubernetes rendered by Kustomize (`kubectl kustomize`, the kubectl on this kind of machine).
 * No API server is reachable here, so each object is checked offline against its kind's schema:
 * the Kubernetes API's (kubernetes-models) and KEDA's and the Prometheus Operator's CRDs
 * (@kubernetes-models/keda, @kubernetes-models/prometheus-operator), with fields the schema does not
 * know refused as the API server's strict field validation refuses them. Then what the project
 * needs: probes, requests and limits, grace periods, the restricted Pod Security level, scaling on
 * the real backlog with every queue always taken, network policies, the ingress for 25 MiB uploads,
 * a migrate Job per release, and alerts that name metrics the code exports (promtool).
 */

type Doc = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
};
type Model = new (data: any) => { validate(): void };

/** The schema of each kind the overlays may render. */
const MODELS: Record<string, Model> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'networking.k8s.io/v1/Ingress': Ingress,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'keda.sh/v1alpha1/TriggerAuthentication': TriggerAuthentication,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

function schemaErrors(model: Model, doc: unknown): string | undefined {
  try {
    new model(doc).validate();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Fields the schema does not know: the models' schemas allow extra properties, so each field is
 * given a value no schema type accepts, and a field whose schema does not then complain is
 * unknown (a typo such as `securityContex`, which an API server's strict validation refuses).
 */
function unknownFields(model: Model, doc: Doc): string[] {
  const unknown: string[] = [];
  const complainsAt = (at: (string | number)[]) => {
    const copy = structuredClone(doc) as any;
    let node = copy;
    for (const key of at.slice(0, -1)) node = node[key];
    node[at.at(-1)!] = Symbol('no schema type accepts this');
    const message = schemaErrors(model, copy) ?? '';
    const where = `data/${at.map((k) => String(k).replaceAll('~', '~0').replaceAll('/', '~1')).join('/')}`; // JSON Pointer
    return message.split(', ').some((m) => m.startsWith(`${where} `));
  };
  const walk = (node: unknown, at: (string | number)[]) => {
    if (Array.isArray(node))
      node.forEach((v, i) => {
        walk(v, [...at, i]);
      });
    else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (complainsAt([...at, key])) walk(value, [...at, key]);
        else unknown.push([...at, key].join('.'));
      }
    }
  };
  walk(doc, []);
  return unknown;
}

/** The restricted Pod Security Standard's rules (and this project's: read-only root, no token), as the admission controller checks them. */
function restrictedViolations(pod: any): string[] {
  const v: string[] = [];
  const podSc = pod.securityContext ?? {};
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) v.push('host namespaces');
  if (podSc.sysctls?.length) v.push('sysctls');
  if (pod.automountServiceAccountToken !== false) v.push('service-account token mounted');
  const allowedVolumes = [
    'configMap',
    'csi',
    'downwardAPI',
    'emptyDir',
    'ephemeral',
    'persistentVolumeClaim',
    'projected',
    'secret',
  ];
  for (const vol of pod.volumes ?? [])
    if (!Object.keys(vol).some((k) => allowedVolumes.includes(k))) v.push(`volume ${vol.name}`);
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
    const sc = c.securityContext ?? {};
    const id = `container ${c.name}:`;
    if (sc.privileged) v.push(`${id} privileged`);
    if (sc.allowPrivilegeEscalation !== false) v.push(`${id} allowPrivilegeEscalation not false`);
    if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true) v.push(`${id} runAsNonRoot not true`);
    if ((sc.runAsUser ?? podSc.runAsUser) === 0) v.push(`${id} runAsUser 0`);
    if (!['RuntimeDefault', 'Localhost'].includes(sc.seccompProfile?.type ?? podSc.seccompProfile?.type))
      v.push(`${id} no seccomp profile`);
    if (!sc.capabilities?.drop?.includes('ALL')) v.push(`${id} capabilities not dropped`);
    if ((sc.capabilities?.add ?? []).some((cap: string) => cap !== 'NET_BIND_SERVICE'))
      v.push(`${id} capabilities added`);
    if ((c.ports ?? []).some((p: { hostPort?: number }) => p.hostPort)) v.push(`${id} host port`);
    if (sc.readOnlyRootFilesystem !== true) v.push(`${id} writable root filesystem`);
  }
  return v;
}

// What the roles need beyond the schema: the image, the config and Secret, probes, requests and limits.
const quantity = z.union([z.string().regex(/^\d+(\.\d+)?(m|Mi|Gi)?$/), z.number()]);
const probe = (p: '/healthz' | '/readyz') =>
  z.object({
    httpGet: z.object({ path: z.literal(p), port: z.union([z.string(), z.number()]) }),
    periodSeconds: z.number().int().positive(),
  });
const container = z.object({
  image: z.string().regex(/^registry\.example\.com\/rasmi:(cpu|gpu)-/),
  args: z.tuple([z.enum(['api', 'worker', 'scheduler', 'migrate'])]),
  envFrom: z.tuple([
    z.object({ configMapRef: z.object({ name: z.string().startsWith('rasmi-config-') }) }),
    z.object({ secretRef: z.object({ name: z.literal('rasmi-secrets') }) }),
  ]),
  env: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
  resources: z.object({
    requests: z.object({ cpu: quantity, memory: quantity }).catchall(quantity),
    limits: z.object({ memory: quantity }).catchall(quantity),
  }),
});
const serving = container.extend({ livenessProbe: probe('/healthz'), readinessProbe: probe('/readyz') });
const deployment = z.object({
  kind: z.literal('Deployment'),
  metadata: z.object({ name: z.string(), namespace: z.literal('rasmi') }),
  spec: z
    .object({
      replicas: z.number().int().optional(),
      template: z.object({
        metadata: z.object({ labels: z.record(z.string(), z.string()) }),
        spec: z
          .object({ terminationGracePeriodSeconds: z.number().int().positive(), containers: z.tuple([serving]) })
          .passthrough(),
      }),
    })
    .passthrough(),
});
type DeploymentDoc = z.infer<typeof deployment>;

function render(overlay: 'cpu' | 'gpu'): Doc[] {
  let text: string;
  try {
    text = execFileSync('kubectl', ['kustomize', `deploy/kubernetes/overlays/${overlay}`], { encoding: 'utf8' });
  } catch (err) {
    throw new Error(
      `kubectl kustomize failed (kubectl 1.27+ is on this kind of machine; docs/operations.md, Kubernetes): ${(err as Error).message}`,
    );
  }
  return parseAllDocuments(text).map((d) => d.toJS() as Doc);
}
const byKind = (docs: Doc[], kind: string) => docs.filter((d) => d.kind === kind);
const named = (docs: Doc[], kind: string, name: string) =>
  docs.find((d) => d.kind === kind && d.metadata.name.startsWith(name))!;
const envOf = (d: DeploymentDoc) =>
  Object.fromEntries((d.spec.template.spec.containers[0].env ?? []).map((e) => [e.name, e.value]));
const mebibytes = (q: string | number) =>
  typeof q === 'number' ? q / 2 ** 20 : Number(q.replace(/Mi$|Gi$/, '')) * (q.endsWith('Gi') ? 1024 : 1);
const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);
/** Pipeline queues a worker Deployment takes (WORKER_QUEUES; unset: all). */
const queuesOf = (d: DeploymentDoc) => envOf(d).WORKER_QUEUES?.split(',') ?? [...PIPELINE_QUEUES];
/** The capacity model's target utilisation (docs/capacity.md), which the API's HPA must use. */
const plannedUtilisation = (page: string) => Number(/\| target utilisation \| (\d+) %/.exec(page)![1]);
/** Every metric the code registers, with the label names each accepts (histograms: their series). */
function exportedMetrics(): Map<string, string[]> {
  enableProcessMetrics();
  const out = new Map<string, string[]>();
  for (const m of registry.getMetricsAsArray()) {
    const labels = (m as unknown as { labelNames?: string[] }).labelNames ?? [];
    const type = (m as unknown as { type?: string }).type ?? (m.constructor.name === 'Histogram' ? 'histogram' : '');
    out.set(m.name, labels);
    if (type === 'histogram' || m.constructor.name === 'Histogram')
      for (const s of ['_sum', '_count']) out.set(m.name + s, labels);
    if (type === 'histogram' || m.constructor.name === 'Histogram') out.set(`${m.name}_bucket`, [...labels, 'le']);
  }
  return out;
}
/** Metric names and the label names each selector uses, in a PromQL expression. */
function metricsIn(expr: string): { name: string; labels: string[] }[] {
  return [...expr.matchAll(/\b(rasmi_[a-z0-9_]+)(?:\{([^}]*)\})?/g)].map((m) => ({
    name: m[1],
    labels: [...(m[2] ?? '').matchAll(/(\w+)\s*(?:=~|!=|!~|=)/g)].map((l) => l[1]),
  }));
}

/** Worker peak RSS with PIXEL_THREADS=2, MB (npm run bench:worker-memory; docs/performance.md, Worker memory). */
const WORKER_PEAK_MB = 713;
/** Longest job a worker runs, s: a full account's export (docs/operations.md, Kubernetes). */
const LONGEST_JOB_SECONDS = 45;
const METRICS_PORT = 9464;

const promtool = (() => {
  try {
    return execFileSync('promtool', ['--version'], { encoding: 'utf8' }) && 'promtool';
  } catch {
    return undefined;
  }
})();

let backlogJson: Record<string, unknown>;
beforeAll(async () => {
  // The /backlog answer's real shape (core/platform/backlog.ts) on the local redis-server, for the triggers' valueLocation.
  const config = loadConfig({ QUEUE_PREFIX: `tk${randomBytes(4).toString('hex')}` });
  const queues = new Queues(config);
  const redis = new Redis(config.REDIS_URL);
  try {
    backlogJson = JSON.parse(JSON.stringify(await backlogs(redis, queues, new Date())));
  } finally {
    await queues.close();
    redis.disconnect();
  }
});

describe.each(['cpu', 'gpu'] as const)('deploy/kubernetes overlay %s', (overlay) => {
  const docs = render(overlay);
  const config = named(docs, 'ConfigMap', 'rasmi-config').data!;
  const deployments = byKind(docs, 'Deployment').map((d) => deployment.parse(d));
  const workers = deployments.filter((d) => d.metadata.name.startsWith('worker-'));
  const podSpecs = [...byKind(docs, 'Deployment'), ...byKind(docs, 'Job')].map((d) => ({
    name: `${d.kind}/${d.metadata.name}`,
    labels: d.spec.template.metadata.labels as Record<string, string>,
    spec: d.spec.template.spec,
  }));

  it("validates every object against its kind's schema (Kubernetes, KEDA, Prometheus Operator), unknown fields included", () => {
    const problems: string[] = [];
    for (const doc of docs) {
      const model = MODELS[`${doc.apiVersion}/${doc.kind}`];
      if (!model) {
        problems.push(`${doc.apiVersion} ${doc.kind} ${doc.metadata.name}: no schema for this kind`);
        continue;
      }
      const errors = schemaErrors(model, doc);
      if (errors) problems.push(`${doc.kind} ${doc.metadata.name}: ${errors}`);
      for (const field of unknownFields(model, doc))
        problems.push(`${doc.kind} ${doc.metadata.name}: unknown field ${field}`);
      expect(doc.metadata.namespace, `${doc.kind} ${doc.metadata.name}`).toBe('rasmi');
    }
    expect(problems).toEqual([]);
    // The checks can fail: a misspelt field and a wrong type are caught.
    const d = structuredClone(named(docs, 'Deployment', 'api'));
    d.spec.template.spec.securityContex = {};
    d.spec.template.spec.containers[0].ports[0].containerPort = '3000';
    expect(unknownFields(Deployment, d)).toEqual(['spec.template.spec.securityContex']);
    expect(schemaErrors(Deployment, d)).toMatch(/containerPort must be integer/);
  });

  it('runs every pod at the restricted Pod Security level, with a read-only root filesystem and no service-account token', () => {
    expect(podSpecs.length).toBe(overlay === 'gpu' ? 5 : 4);
    for (const p of podSpecs) expect(restrictedViolations(p.spec), p.name).toEqual([]);
    // The check can fail: the pod settings this replaced (non-root only) break four rules.
    expect(
      restrictedViolations({
        securityContext: { runAsNonRoot: true, runAsUser: 1000 },
        containers: [{ name: 'x', securityContext: { allowPrivilegeEscalation: false } }],
      }),
    ).toEqual([
      'service-account token mounted',
      'container x: no seccomp profile',
      'container x: capabilities not dropped',
      'container x: writable root filesystem',
    ]);
  });

  it('gives every role probes, requests and limits, grace periods longer than its work, workers memory above their peak', () => {
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(
      overlay === 'gpu' ? ['api', 'scheduler', 'worker-cpu', 'worker-gpu'] : ['api', 'scheduler', 'worker-cpu'],
    );
    const grace = (name: string) =>
      deployments.find((d) => d.metadata.name === name)!.spec.template.spec.terminationGracePeriodSeconds;
    expect(grace('api')).toBeGreaterThan(loadConfig({}).HTTP_REQUEST_TIMEOUT_SECONDS);
    for (const d of deployments) {
      const c = d.spec.template.spec.containers[0];
      expect(mebibytes(c.resources.limits.memory), d.metadata.name).toBeGreaterThanOrEqual(
        mebibytes(c.resources.requests.memory),
      );
      // Workers and the scheduler serve their probes on METRICS_PORT (core/platform/metrics-server.ts).
      if (c.args[0] !== 'api')
        expect(c.livenessProbe.httpGet.port === 'ops' && config.METRICS_PORT === String(METRICS_PORT)).toBe(true);
    }
    for (const w of workers) {
      expect(grace(w.metadata.name)).toBeGreaterThan(LONGEST_JOB_SECONDS);
      expect(mebibytes(w.spec.template.spec.containers[0].resources.limits.memory)).toBeGreaterThanOrEqual(
        WORKER_PEAK_MB * 1.15,
      );
    }
  });

  it('leaves replicas to the autoscalers: no spec.replicas on a Deployment an HPA or ScaledObject scales', () => {
    const scaled = [
      ...byKind(docs, 'HorizontalPodAutoscaler').map((h) => h.spec.scaleTargetRef.name),
      ...byKind(docs, 'ScaledObject').map((s) => s.spec.scaleTargetRef.name),
    ];
    expect(scaled.sort()).toEqual(
      deployments
        .map((d) => d.metadata.name)
        .filter((n) => n !== 'scheduler')
        .sort(),
    );
    for (const name of scaled) expect(named(docs, 'Deployment', name).spec.replicas, name).toBeUndefined();
    expect(named(docs, 'Deployment', 'scheduler').spec.replicas).toBe(1);
  });

  it('scales every worker kind on the real backlog of the queues it takes, read from /backlog with the metrics token', () => {
    const service = named(docs, 'Service', 'backlog');
    const servers = podSpecs.filter((p) => selects(service.spec.selector, p.labels));
    // At least two Deployments serve /backlog, so one restarting does not blind KEDA.
    expect(servers.map((p) => p.name).sort()).toEqual(['Deployment/scheduler', 'Deployment/worker-cpu']);
    for (const p of servers)
      expect(p.spec.containers[0].ports).toContainEqual({
        name: service.spec.ports[0].targetPort,
        containerPort: METRICS_PORT,
      });
    const auth = named(docs, 'TriggerAuthentication', 'rasmi-backlog');
    expect(auth.spec.secretTargetRef).toEqual([{ parameter: 'token', name: 'rasmi-secrets', key: 'METRICS_TOKEN' }]);
    expect(SECRET_KEYS).toContain('METRICS_TOKEN');

    const scaled = byKind(docs, 'ScaledObject');
    expect(scaled.map((s) => s.spec.scaleTargetRef.name).sort()).toEqual(workers.map((w) => w.metadata.name).sort());
    for (const s of scaled) {
      expect(s.spec.fallback.replicas, s.metadata.name).toBeGreaterThanOrEqual(1);
      expect(s.spec.maxReplicaCount).toBeGreaterThan(s.spec.minReplicaCount);
      for (const t of s.spec.triggers) {
        expect(t).toMatchObject({
          type: 'metrics-api',
          authenticationRef: { name: auth.metadata.name },
          metadata: {
            authMode: 'bearer',
            url: `http://backlog.${service.metadata.namespace}.svc.cluster.local:${service.spec.ports[0].port}/backlog`,
          },
        });
        expect(Number(t.metadata.targetValue)).toBeGreaterThan(0);
        // valueLocation (GJSON) names a number in the endpoint's real answer.
        const [queue, field] = t.metadata.valueLocation.split('.');
        expect([queue, field]).toEqual([t.name, 'backlog']);
        expect(typeof (backlogJson[queue] as Record<string, unknown>)?.[field]).toBe('number');
      }
    }
    const triggersOf = (name: string) =>
      named(docs, 'ScaledObject', name)
        .spec.triggers.map((t: { name: string }) => t.name)
        .sort();
    const cpu = workers.find((w) => w.metadata.name === 'worker-cpu')!;
    // No job is ever without a worker: CPU workers take every queue and one always runs, so a job
    // waits for a pod to start for no queue, and analysis (uploads) never waits for a GPU node.
    expect(queuesOf(cpu).sort()).toEqual([...PIPELINE_QUEUES].sort());
    expect(named(docs, 'ScaledObject', 'worker-cpu').spec.minReplicaCount).toBeGreaterThanOrEqual(1);
    for (const w of workers)
      for (const q of triggersOf(w.metadata.name)) expect(queuesOf(w), w.metadata.name).toContain(q);
    if (overlay === 'cpu') expect(triggersOf('worker-cpu')).toEqual([...PIPELINE_QUEUES].sort());
    else {
      // GPU workers scale on rendering alone; CPU workers on the rest (they still render a lone order).
      expect(triggersOf('worker-gpu')).toEqual(['rendering']);
      expect(triggersOf('worker-cpu')).toEqual(PIPELINE_QUEUES.filter((q) => q !== 'rendering').sort());
    }
  });

  it("gives the API a Service, a PDB, zone and node spread, and an HPA on CPU at the capacity model's utilisation", async () => {
    const api = named(docs, 'Deployment', 'api');
    const podLabels = api.spec.template.metadata.labels;
    expect(selects(named(docs, 'Service', 'api').spec.selector, podLabels)).toBe(true);
    expect(selects(named(docs, 'PodDisruptionBudget', 'api').spec.selector.matchLabels, podLabels)).toBe(true);
    const spread = api.spec.template.spec.topologySpreadConstraints as {
      topologyKey: string;
      labelSelector: { matchLabels: Record<string, string> };
    }[];
    expect(spread.map((s) => s.topologyKey).sort()).toEqual(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
    for (const s of spread) expect(selects(s.labelSelector.matchLabels, podLabels)).toBe(true);
    const hpa = named(docs, 'HorizontalPodAutoscaler', 'api').spec;
    expect(hpa.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'api' });
    expect(hpa.metrics[0].resource).toEqual({
      name: 'cpu',
      target: {
        type: 'Utilization',
        averageUtilization: plannedUtilisation(await readFile('docs/capacity.md', 'utf8')),
      },
    });
    expect(hpa.minReplicas).toBeGreaterThanOrEqual(2);
  });

  it('gives each worker kind a PDB that lets a drain take one pod at a time', () => {
    for (const w of workers) {
      const pdb = byKind(docs, 'PodDisruptionBudget').find((p) =>
        selects(p.spec.selector.matchLabels, w.spec.template.metadata.labels),
      );
      expect(pdb?.spec, w.metadata.name).toEqual({
        maxUnavailable: 1,
        selector: { matchLabels: { 'app.kubernetes.io/component': w.metadata.name } },
      });
    }
  });

  it('denies all traffic but DNS, the ingress controller to the API, scrapes and KEDA, and egress to Postgres, Redis and HTTPS', async () => {
    const policies = byKind(docs, 'NetworkPolicy');
    const deny = policies.find((p) => p.metadata.name === 'default-deny')!;
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    // Egress: the ports every pod may reach (DNS aside), and the services the configuration names are among them.
    const egress = policies.flatMap((p) => p.spec.egress ?? []);
    const ports = new Set(
      egress.flatMap((r: { ports: { port: number }[] }) => r.ports.map((p) => p.port)).filter((p: number) => p !== 53),
    );
    expect([...ports].sort()).toEqual([443, 5432, 6379, 6380]);
    // Egress open to the internet (the HTTPS APIs) is not open to private addresses.
    const open = egress
      .flatMap((r: { to?: { ipBlock?: { cidr: string; except?: string[] } }[] }) => r.to ?? [])
      .filter((t: { ipBlock?: { cidr: string } }) => t.ipBlock?.cidr === '0.0.0.0/0');
    for (const t of open)
      expect(t.ipBlock!.except).toEqual(expect.arrayContaining(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']));
    const secret = parse(await readFile('deploy/kubernetes/secret.example.yaml', 'utf8')) as {
      stringData: Record<string, string>;
    };
    const portOf = (u: string) =>
      Number(
        new URL(u).port || { 'https:': 443, 'rediss:': 6379, 'redis:': 6379, 'postgres:': 5432 }[new URL(u).protocol],
      );
    for (const u of [
      secret.stringData.DATABASE_URL,
      secret.stringData.REDIS_URL,
      config.S3_ENDPOINT,
      config.POSTMARK_API_URL,
      config.WHATSAPP_API_URL,
    ])
      expect(ports.has(portOf(u)), u).toBe(true);
    // Ingress: each pod port something must reach is opened to exactly the namespaces that reach it.
    const opened = (pod: { labels: Record<string, string> }, port: string) =>
      policies
        .filter(
          (p) =>
            p.spec.ingress &&
            (Object.keys(p.spec.podSelector).length === 0 ||
              selects(p.spec.podSelector.matchLabels ?? {}, pod.labels) ||
              (p.spec.podSelector.matchExpressions ?? []).every((e: { key: string; values: string[] }) =>
                e.values.includes(pod.labels[e.key]),
              )),
        )
        .flatMap((p) =>
          p.spec.ingress
            .filter((r: { ports: { port: string }[] }) => r.ports.some((x) => x.port === port))
            .flatMap((r: { from: { namespaceSelector: { matchLabels: Record<string, string> } }[] }) =>
              r.from.map((f) => f.namespaceSelector.matchLabels['kubernetes.io/metadata.name']),
            ),
        )
        .sort();
    for (const p of podSpecs.filter((x) => x.name.startsWith('Deployment/'))) {
      if (p.name === 'Deployment/api') expect(opened(p, 'http'), p.name).toEqual(['ingress-nginx', 'monitoring']);
      else expect(opened(p, 'ops'), p.name).toEqual(['keda', 'monitoring']);
    }
  });

  it('routes the API through an ingress sized for a 25 MiB upload and its request timeout', () => {
    const ingress = named(docs, 'Ingress', 'api');
    const a = ingress.metadata.annotations!;
    const bytes = (s: string) => Number(/^(\d+)m$/.exec(s)![1]) * 2 ** 20;
    // The API itself answers an oversized body (413 problem+json): nginx must let it through.
    expect(bytes(a['nginx.ingress.kubernetes.io/proxy-body-size'])).toBeGreaterThanOrEqual(
      loadConfig({}).UPLOAD_MAX_BYTES + MULTIPART_ENVELOPE_BYTES,
    );
    expect(Number(a['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThan(
      loadConfig({}).HTTP_REQUEST_TIMEOUT_SECONDS,
    );
    expect(Number(a['nginx.ingress.kubernetes.io/proxy-send-timeout'])).toBeGreaterThan(
      loadConfig({}).HTTP_REQUEST_TIMEOUT_SECONDS,
    );
    expect(a['nginx.ingress.kubernetes.io/proxy-request-buffering']).toBe('off');
    const backend = ingress.spec.rules[0].http.paths[0].backend.service;
    expect(named(docs, 'Service', backend.name).spec.ports.map((p: { name: string }) => p.name)).toContain(
      backend.port.name,
    );
    expect(new URL(config.PUBLIC_URL).host).toBe(ingress.spec.rules[0].host);
  });

  it('names the migrate Job after its image tag, so each release creates its own Job', () => {
    const job = named(docs, 'Job', 'migrate-');
    const image = job.spec.template.spec.containers[0].image as string;
    expect(job.metadata.name).toBe(`migrate-${image.split(':')[1].replaceAll('.', '-')}`);
    expect(job.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(job.spec.template.spec.containers[0].args).toEqual(['migrate']);
    expect(job.metadata.annotations!['argocd.argoproj.io/hook']).toBe('PreSync');
  });

  it("is a valid production configuration: ConfigMap + Secret pass the service's own checks; no secret in the ConfigMap", async () => {
    expect(Object.keys(config).filter((k) => !CONFIG_KEYS.includes(k))).toEqual([]);
    expect(Object.keys(config).filter((k) => (SECRET_KEYS as readonly string[]).includes(k))).toEqual([]);
    expect(config.RUN_MIGRATIONS).toBe('false');
    const secret = parse(await readFile('deploy/kubernetes/secret.example.yaml', 'utf8')) as {
      stringData: Record<string, string>;
    };
    expect(Object.keys(secret.stringData).sort()).toEqual(SECRET_KEYS.filter((k) => k !== 'WHATSAPP_TOKEN').sort());
    // Placeholders replaced by well-formed values: production start-up checks accept the set.
    const filled = {
      ...secret.stringData,
      MASTER_KEYS: `k1:${'ab'.repeat(32)}`,
      PII_KEYS: `k1:${'cd'.repeat(32)}`,
      PII_HASH_KEY: 'ef'.repeat(32),
      METRICS_TOKEN: 'x'.repeat(32),
    };
    const c = loadConfig({ ...config, ...filled });
    expect([c.NODE_ENV, c.PAYMENT_PROCESSOR, c.QUEUE_PREFIX]).toEqual(['production', 'stripe', '{rasmi}']);
  });

  it('scrapes every role with the metrics token', () => {
    const monitor = named(docs, 'PodMonitor', 'rasmi');
    const selected = (labels: Record<string, string>) =>
      monitor.spec.selector.matchExpressions.every((e: { key: string; values: string[] }) =>
        e.values.includes(labels[e.key]),
      );
    for (const d of deployments) {
      const ports = named(docs, 'Deployment', d.metadata.name).spec.template.spec.containers[0] as {
        ports: { name: string }[];
      };
      expect(selected(d.spec.template.metadata.labels), d.metadata.name).toBe(true);
      const endpoints = monitor.spec.podMetricsEndpoints.filter((e: { port: string }) =>
        ports.ports.some((p) => p.name === e.port),
      );
      expect(endpoints, d.metadata.name).toHaveLength(1);
      expect(endpoints[0]).toMatchObject({
        path: '/metrics',
        authorization: { type: 'Bearer', credentials: { name: 'rasmi-secrets', key: 'METRICS_TOKEN' } },
      });
    }
  });

  it.runIf(overlay === 'gpu')(
    'puts GPU workers on GPU nodes with one nvidia.com/gpu, CUDA first, from 0 replicas, on rendering only',
    () => {
      const gpu = workers.find((w) => w.metadata.name === 'worker-gpu')!;
      const pod = gpu.spec.template.spec as unknown as {
        nodeSelector: Record<string, string>;
        tolerations: { key: string }[];
        containers: { resources: { limits: Record<string, string> } }[];
      };
      expect(pod.containers[0].resources.limits['nvidia.com/gpu']).toBe('1');
      expect(pod.nodeSelector['nvidia.com/gpu.present']).toBe('true');
      expect(pod.tolerations.map((t) => t.key)).toContain('nvidia.com/gpu');
      expect(envOf(gpu)).toMatchObject({ ONNX_PROVIDERS: 'cuda,cpu', WORKER_QUEUES: 'rendering' });
      expect(gpu.spec.template.spec.containers[0].image).toMatch(/:gpu-/);
      const so = named(docs, 'ScaledObject', 'worker-gpu').spec;
      expect(so.minReplicaCount).toBe(0);
      // A lone order's renders (8) stay on the CPU worker; more wake the GPU pool.
      expect(Number(so.triggers[0].metadata.activationTargetValue)).toBeGreaterThanOrEqual(8);
    },
  );
});

describe('alerts and dashboard (components/monitoring)', () => {
  const docs = render('cpu');
  const rule = named(docs, 'PrometheusRule', 'rasmi');
  const alerts = rule.spec.groups.flatMap(
    (g: { rules: { alert: string; expr: string; annotations: Record<string, string> }[] }) => g.rules,
  );
  const exported = exportedMetrics();
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'rasmi-rules-'));
    await writeFile(path.join(dir, 'alerts.rules.yaml'), stringify({ groups: rule.spec.groups }));
    await writeFile(
      path.join(dir, 'alerts.test.yaml'),
      await readFile('deploy/kubernetes/components/monitoring/alerts.test.yaml'),
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('alerts on each promise: delivery, queue age, failed jobs, stopped sweeps, deadlines within 12 h, a GPU worker on CPU', () => {
    expect(alerts.map((a: { alert: string }) => a.alert)).toEqual([
      'RasmiOrderDeliveryLate',
      'RasmiUploadQueueStalled',
      'RasmiOrderQueueStalled',
      'RasmiPrivacyQueueStalled',
      'RasmiJobsFailedForGood',
      'RasmiSweepStopped',
      'RasmiPrivacyDeadlineNear',
      'RasmiGpuWorkerOnCpu',
    ]);
  });

  it('names only metrics the code exports, with labels they carry, in every alert and dashboard panel', async () => {
    const dashboard = JSON.parse(await readFile('deploy/kubernetes/components/monitoring/dashboard.json', 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    const exprs: [string, string][] = [
      ...alerts.map((a: { alert: string; expr: string }) => [a.alert, a.expr]),
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => [p.title, t.expr] as [string, string])),
    ];
    expect(exprs.length).toBeGreaterThan(20);
    for (const [where, expr] of exprs) {
      const used = metricsIn(expr);
      expect(used.length, where).toBeGreaterThan(0);
      for (const m of used) {
        expect(exported.has(m.name), `${where}: ${m.name} is not exported`).toBe(true);
        for (const l of m.labels) expect(exported.get(m.name), `${where}: ${m.name} has no label ${l}`).toContain(l);
      }
    }
    // The dashboard ConfigMap the Grafana sidecar loads carries this file.
    expect(JSON.parse(named(docs, 'ConfigMap', 'rasmi-dashboard').data!['rasmi.json'])).toEqual(dashboard);
  });

  it('has a runbook line for each alert where its runbook annotation points (docs/operations.md#alerts)', async () => {
    for (const a of alerts) expect(a.annotations.runbook, a.alert).toBe('docs/operations.md#alerts');
    const page = await readFile('docs/operations.md', 'utf8');
    const section = page.slice(page.indexOf('\n## Alerts\n'), page.indexOf('\n## ', page.indexOf('\n## Alerts\n') + 1));
    for (const a of alerts) expect(section, a.alert).toMatch(new RegExp(`^\\| \`${a.alert}\` \\|`, 'm'));
  });

  it.runIf(promtool || process.env.CI)(
    'parses with promtool check rules and passes its unit tests (alerts.test.yaml)',
    () => {
      const run = (...args: string[]) => execFileSync('promtool', args, { cwd: dir, encoding: 'utf8' });
      expect(run('check', 'rules', 'alerts.rules.yaml')).toContain(`SUCCESS: ${alerts.length} rules found`);
      expect(run('test', 'rules', 'alerts.test.yaml')).toContain('SUCCESS');
    },
  );
});

describe('the ConfigMap', () => {
  it('is generated from the configuration page (npm run kubernetes:config)', async () => {
    expect(await readFile(CONFIG_ENV_PATH, 'utf8')).toBe(renderConfigEnv(await readFile(CONFIGURATION_DOC, 'utf8')));
  });

  it('WORKER_QUEUES accepts pipeline queues only', () => {
    expect(loadConfig({ WORKER_QUEUES: 'analysis, rendering' }).WORKER_QUEUES).toEqual(['analysis', 'rendering']);
    expect(() => loadConfig({ WORKER_QUEUES: 'rendering,sweeps' })).toThrow(/WORKER_QUEUES/);
  });
});

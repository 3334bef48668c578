import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ role: 'api' });
});
afterAll(async () => {
  await stack?.stop();
});

/** Every route Express knows, as "METHOD /path/{param}". */
function expressRoutes(): string[] {
  const out: string[] = [];
  const app = stack.server!.listeners('request')[0] as unknown as { router: { stack: Layer[] } };
  type Layer = { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: Layer[] } };
  const walk = (layers: Layer[]) => {
    for (const l of layers) {
      if (l.route)
        for (const m of Object.keys(l.route.methods))
          out.push(`${m.toUpperCase()} ${l.route.path.replace(/:(\w+)/g, '{$1}')}`);
      else if (l.handle?.stack) walk(l.handle.stack);
    }
  };
  walk(app.router.stack);
  return out.filter(
    (r) =>
      r.includes(' /v1/') ||
      r.includes(' /healthz') ||
      r.includes(' /readyz') ||
      r.includes(' /admin/session') ||
      r.includes(' /metrics'),
  );
}

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1, documents every API route Express serves, and nothing it does not', async () => {
    const doc = (await stack.api('GET', '/openapi.json')).body;
    expect(doc.openapi).toBe('3.1.0');
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(documented.sort()).toEqual([...new Set(expressRoutes())].sort());
  });

  it('uses the same schemas that validate requests, with the problem+json errors', async () => {
    const doc = (await stack.api('GET', '/openapi.json')).body;
    const reg = doc.components.schemas.Registration;
    expect(reg.required).toEqual(
      expect.arrayContaining(['email', 'name', 'confirms_adult', 'accepted_policy_version']),
    );
    expect(reg.properties.phone.pattern).toBeDefined();
    const post = doc.paths['/v1/photos'].post;
    expect(post.requestBody.content['multipart/form-data']).toBeDefined();
    expect(post.responses['413'].content['application/problem+json']).toBeDefined();
    expect(doc.paths['/v1/orders'].post.security).toEqual([{ bearer: [] }]);
  });

  it('is the committed openapi.json (npm run openapi writes it; the client in clients/typescript is generated from it), apart from its server', async () => {
    const served = (await stack.api('GET', '/openapi.json')).body;
    const committed = JSON.parse(await readFile(new URL('../../openapi.json', import.meta.url), 'utf8'));
    expect({ ...served, servers: committed.servers }).toEqual(committed);
  });

  it('names every operation with a unique operationId and documents a 4xx and the security of each', async () => {
    const doc = (await stack.api('GET', '/openapi.json')).body;
    const ops = Object.values(
      doc.paths as Record<
        string,
        Record<string, { operationId?: string; responses: Record<string, unknown>; security?: unknown[] }>
      >,
    ).flatMap((o) => Object.values(o));
    const ids = ops.map((o) => o.operationId);
    expect(ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const o of ops) {
      expect(
        Object.keys(o.responses).some((s) => s.startsWith('4')),
        o.operationId,
      ).toBe(true);
      expect(o.security, o.operationId).toBeDefined();
      for (const req of o.security!)
        for (const scheme of Object.keys(req as object))
          expect(doc.components.securitySchemes[scheme], `${o.operationId} ${scheme}`).toBeDefined();
    }
  });

  it('serves a human-readable reference page from a package, not a CDN', async () => {
    const page = await stack.api('GET', '/docs');
    expect(page.status).toBe(200);
    const html = page.body.toString();
    expect(html).not.toMatch(/https?:\/\/(?!localhost)/);
    expect((await stack.api('GET', '/docs/assets/swagger-ui-bundle.js')).status).toBe(200);
  });
});

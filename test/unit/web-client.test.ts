import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import helmet from 'helmet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountWebClient } from '../../api/web-client';

// The static mount of the reference web client (web/dist at /app/), under the same helmet CSP the API uses.
describe('web client mount', () => {
  let dir: string;
  let base: string;
  let close: () => void;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'rasmi-web-'));
    const built = path.join(dir, 'dist');
    await mkdir(path.join(built, 'assets'), { recursive: true });
    await writeFile(
      path.join(built, 'index.html'),
      '<!doctype html><script type="module" src="./assets/index.js"></script>',
    );
    await writeFile(path.join(built, 'assets', 'index.js'), 'console.log(1)');
    const app = express();
    app.use(helmet());
    mountWebClient(app, built);
    const missing = express();
    mountWebClient(missing, path.join(dir, 'not-built'));
    app.use('/missing', missing);
    const server = app.listen(0);
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => server.close();
  });
  afterAll(async () => {
    close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the built page and its assets with a CSP that allows only self', async () => {
    const page = await fetch(`${base}/app/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/script-src[^;]*(unsafe|\*)/);
    expect((await fetch(`${base}/app/assets/index.js`)).headers.get('content-type')).toMatch(/javascript/);
    const bare = await fetch(`${base}/app`, { redirect: 'manual' });
    expect([bare.status, bare.headers.get('location')]).toEqual([301, '/app/']);
  });

  it('answers a clear problem when web/dist was not built', async () => {
    const res = await fetch(`${base}/missing/app/`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await res.json()) as { code: string }).code).toBe('web_client_not_built');
  });
});

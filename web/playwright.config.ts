import os from 'node:os';
import path from 'node:path';
import { defineConfig } from '@playwright/test';

// Chosen once in the runner; its workers inherit them through the environment.
process.env.WEB_TEST_RUN ??= `${Math.floor(Date.now() / 1000)}_web${Math.random().toString(36).slice(2, 6)}`;
process.env.WEB_TEST_PORT ??= String(20000 + Math.floor(Math.random() * 20000));
process.env.WEB_TEST_DIR ??= path.join(os.tmpdir(), `rasmi-web-${process.env.WEB_TEST_RUN}`);
const origin = `http://127.0.0.1:${process.env.WEB_TEST_PORT}`;
const root = path.resolve(import.meta.dirname, '..');

/**
 * The reference web client in a real Chromium (Debian's /usr/bin/chromium, or CHROMIUM_PATH; as root
 * it needs --no-sandbox) against the whole local stack (web/e2e/stack.ts). `npm run test:web`.
 */
export default defineConfig({
  testDir: 'e2e',
  outputDir: 'test-results/output',
  timeout: 420_000,
  expect: { timeout: 30_000 },
  workers: 1,
  reporter: [['list']],
  use: {
    baseURL: `${origin}/app/`,
    browserName: 'chromium',
    launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox'] },
    acceptDownloads: true,
    trace: 'retain-on-failure',
  },
  webServer: {
    command: 'npx tsx web/e2e/stack.ts',
    cwd: root,
    url: `${origin}/readyz`,
    timeout: 180_000,
    reuseExistingServer: false,
    gracefulShutdown: { signal: 'SIGTERM', timeout: 30_000 },
    stdout: 'pipe',
    stderr: 'pipe',
  },
});

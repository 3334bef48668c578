/**
 * The whole local stack for the browser test, as `npm start` runs it (api + worker + scheduler in one
 * process: real Postgres, Redis, the in-process S3 server over HTTP, mail to the outbox folder, the
 * local payment processor), on its own database, queue prefix and folders so concurrent runs never
 * meet. Started by Playwright's webServer (web/playwright.config.ts), stopped with SIGTERM.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../../core/platform/config';
import { startRole } from '../../main';

const run = process.env.WEB_TEST_RUN!;
const dir = process.env.WEB_TEST_DIR!;
const adminUrl = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://root@127.0.0.1:5432/postgres';
// The test suite's naming, so its global setup drops a crashed run's database once it is an hour old.
const database = `rasmi_t_${run}`;
const dbUrl = new URL(adminUrl);
dbUrl.pathname = `/${database}`;

const config = loadConfig({
  ...process.env,
  NODE_ENV: 'development',
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  PORT: process.env.WEB_TEST_PORT,
  PUBLIC_URL: `http://127.0.0.1:${process.env.WEB_TEST_PORT}`,
  DATABASE_URL: dbUrl.toString(),
  QUEUE_PREFIX: `{rasmi_web_${run}}`,
  LOCAL_S3_DIR: path.join(dir, 's3'),
  MAIL_OUTBOX_DIR: path.join(dir, 'outbox'),
  // The email-links test signs one address in once per link it follows.
  RATE_LIMIT_SIGN_IN: '100',
});
const running = await startRole('all', config);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await running.stop().catch((err) => console.error(err));
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`drop database if exists "${database}" with (force)`);
  await admin.end();
  await rm(dir, { recursive: true, force: true });
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());

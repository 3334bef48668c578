import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { createDb } from '../../core/platform/db';
import { startLocalS3 } from '../../core/platform/local-s3';
import { migrateToLatest } from '../../core/platform/migrate';

// Names carry the run's start time, so concurrent runs never touch each other's databases and a
// crashed run's leftovers are recognisable (dropped once they are an hour old).
const RUN = `${Math.floor(Date.now() / 1000)}_${Math.random().toString(36).slice(2, 6)}`;
const TEMPLATE_DB = `rasmi_tpl_${RUN}`;
const STALE_SECONDS = 3600;
const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://root@127.0.0.1:5432/postgres';

/**
 * Once per run: migrate a template database (each test file clones it) and
 * start one S3 server over HTTP that every test file reaches with the real minio client.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  const all = await admin.query(`select datname from pg_database where datname ~ '^rasmi_(t|tpl)_[0-9]+_'`);
  for (const { datname } of all.rows as { datname: string }[]) {
    const started = Number(/^rasmi_(?:t|tpl)_(\d+)_/.exec(datname)![1]);
    if (Date.now() / 1000 - started > STALE_SECONDS)
      await admin.query(`drop database if exists "${datname}" with (force)`);
  }
  await admin.query(`create database "${TEMPLATE_DB}"`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${TEMPLATE_DB}`;
  const db = createDb(url.toString(), 2);
  await migrateToLatest(db);
  await db.destroy();

  const dir = await mkdtemp(path.join(os.tmpdir(), 'rasmi-s3-'));
  const s3 = await startLocalS3(dir);
  project.provide('s3Endpoint', s3.endpoint);
  project.provide('adminDatabaseUrl', ADMIN_URL);
  project.provide('templateDatabase', TEMPLATE_DB);
  project.provide('runId', RUN);

  return async () => {
    await s3.close();
    await rm(dir, { recursive: true, force: true });
    const mine = await admin.query(`select datname from pg_database where datname like $1 or datname = $2`, [
      `rasmi_t_${RUN}_%`,
      TEMPLATE_DB,
    ]);
    for (const { datname } of mine.rows as { datname: string }[])
      await admin.query(`drop database if exists "${datname}" with (force)`);
    await admin.end();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    s3Endpoint: string;
    adminDatabaseUrl: string;
    templateDatabase: string;
    runId: string;
  }
}

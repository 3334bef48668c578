import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Migrator, FileMigrationProvider, type Kysely } from 'kysely';
import type { Db } from './db';
import { syncPolicyVersions } from './policy';

const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));

/** Runs every pending migration, then records the policy versions shipped with this release. */
export async function migrateToLatest(db: Db): Promise<string[]> {
  const migrator = new Migrator({
    db: db as unknown as Kysely<unknown>,
    provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS_DIR }),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  await syncPolicyVersions(db);
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

import { Migrator, type Kysely } from 'kysely';
import { migrations } from '../../migrations';
import type { Db } from './db';
import { syncPolicyVersions } from '../../policies';

/** Runs every pending migration, then records the policy versions shipped with this release. */
export async function migrateToLatest(db: Db): Promise<string[]> {
  // Imported statically (not read from the folder) so tsx, vitest and a bundler all see them.
  const migrator = new Migrator({
    db: db as unknown as Kysely<unknown>,
    provider: { getMigrations: async () => migrations },
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  await syncPolicyVersions(db);
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Db } from './db';

/** Policy versions shipped with this release; policies/<id>.txt holds each text (PO1). */
export const POLICY_VERSIONS = [
  { id: '2026-01', lastUpdated: '2026-01-01', significant: true, material: true },
] as const;

export const CURRENT_POLICY_VERSION = POLICY_VERSIONS[POLICY_VERSIONS.length - 1].id;

export function policyText(id: string): string {
  return readFileSync(fileURLToPath(new URL(`../policies/${id}.txt`, import.meta.url)), 'utf8');
}

/** Inserts shipped versions that the database does not hold yet; never rewrites a published one. */
export async function syncPolicyVersions(db: Db): Promise<void> {
  for (const v of POLICY_VERSIONS) {
    await db
      .insertInto('policy_versions')
      .values({
        id: v.id,
        last_updated: v.lastUpdated,
        published_at: new Date(`${v.lastUpdated}T00:00:00Z`),
        significant: v.significant,
        material: v.material,
        text: policyText(v.id),
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  }
}

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Db } from '../core/platform/db';

/**
 * The privacy policy versions shipped with this release: each text is <id>.txt beside this file
 * (PO1). Migration records them in policy_versions, so the platform's migrate step reads them from
 * here and never from the privacy rules (core/privacy/policy.ts reads what the database holds).
 */

export const POLICY_VERSIONS = [
  { id: '2026-01', lastUpdated: '2026-01-01', significant: true, material: true },
  // Organisations (issue 23): what an organisation sees and does, and who is controller for what (section 14).
  { id: '2026-12-07', lastUpdated: '2026-12-07', significant: true, material: true },
] as const;

/** The newest version shipped with this release. The current version is the newest published one in the database. */
export const NEWEST_SHIPPED_POLICY_VERSION = POLICY_VERSIONS[POLICY_VERSIONS.length - 1].id;

// '../policies/' and not './': the same path holds from this folder and from dist/, where the bundle runs.
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

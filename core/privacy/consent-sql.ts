import { sql, type RawBuilder } from 'kysely';
import type { Purpose } from '../platform/db';

/**
 * "Is this person's consent for purpose in force?" as a SQL expression, for queries that select
 * many people at once (marketing fan-out, the public portfolio). Same rule as consentsOf: the
 * newest decision wins and a purpose never decided is off, so a restriction or objection recorded
 * anywhere takes effect in the very next query (RG4, RG5).
 */
export function consentInForce(userIdColumn: string, purpose: Purpose): RawBuilder<boolean> {
  return sql<boolean>`coalesce((select c.granted from consents c where c.user_id = ${sql.ref(userIdColumn)} and c.purpose = ${purpose} order by c.recorded_at desc, c.id desc limit 1), false)`;
}

/** The newest consent row of a (user, purpose): part of the job id, so each withdrawal gets one job. */
export const latestConsentId = (userIdColumn: string, purpose: Purpose) =>
  sql<
    string | null
  >`(select c.id from consents c where c.user_id = ${sql.ref(userIdColumn)} and c.purpose = ${purpose} order by c.recorded_at desc, c.id desc limit 1)`;

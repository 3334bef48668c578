import type { AppContext } from '../platform/context';
import { newId } from '../platform/crypto';

/**
 * A deletion record for data removed outside core/privacy/deletion (usage data, marketing data, portfolio
 * copies): ids, counts and the reason, never personal data (RT7). Nothing removed, nothing written.
 */
export async function recordRemoval(
  ctx: AppContext,
  input: { subjectId: string; subjectKind: string; reason: string; details: Record<string, number> },
): Promise<void> {
  const rows = Object.values(input.details).reduce((a, b) => a + b, 0);
  if (!rows) return;
  await ctx.db
    .insertInto('deletion_records')
    .values({
      id: newId('del'),
      subject_id: input.subjectId,
      subject_kind: input.subjectKind,
      reason: input.reason,
      rows_deleted: rows,
      objects_deleted: 0,
      details: JSON.stringify(input.details),
      performed_at: ctx.clock.now(),
    })
    .execute();
}

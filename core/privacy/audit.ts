import type { AppContext } from '../platform/context';
import type { User } from '../platform/db';

/** Writes one append-only audit row for a staff read of a person's data (SC3): ids only. */
export async function auditStaffRead(
  ctx: AppContext,
  actor: Pick<User, 'id' | 'role'>,
  input: { action: string; subjectUserId: string | null; resource: string; resourceId?: string },
): Promise<void> {
  await ctx.db
    .insertInto('audit_log')
    .values({
      actor_id: actor.id,
      actor_role: actor.role,
      action: input.action,
      subject_user_id: input.subjectUserId,
      resource: input.resource,
      resource_id: input.resourceId ?? null,
      at: ctx.clock.now(),
    })
    .execute();
}

/** One page of the audit log, newest first, optionally about one person or by one staff member. */
export async function auditLogPage(
  ctx: AppContext,
  page: { cursor?: string; limit: number; subjectUserId?: string; actorId?: string },
) {
  let q = ctx.db
    .selectFrom('audit_log')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(page.limit + 1);
  if (page.cursor) q = q.where('id', '<', page.cursor);
  if (page.subjectUserId) q = q.where('subject_user_id', '=', page.subjectUserId);
  if (page.actorId) q = q.where('actor_id', '=', page.actorId);
  const rows = await q.execute();
  return { items: rows.slice(0, page.limit), more: rows.length > page.limit };
}

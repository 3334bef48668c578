import type { AppContext } from '../platform/context';
import type { User } from '../platform/db';

/** Writes one append-only audit row for a staff read of a person's data (SC3): ids only. */
export async function auditStaffRead(ctx: AppContext, actor: Pick<User, 'id' | 'role'>, input: { action: string; subjectUserId: string | null; resource: string; resourceId?: string }): Promise<void> {
  await ctx.db
    .insertInto('audit_log')
    .values({ actor_id: actor.id, actor_role: actor.role, action: input.action, subject_user_id: input.subjectUserId, resource: input.resource, resource_id: input.resourceId ?? null, at: ctx.clock.now() })
    .execute();
}

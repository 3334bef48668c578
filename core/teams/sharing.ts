import type { AppContext } from '../platform/context';
import { DomainError } from '../platform/errors';
import { requireMember } from './access';
import { sharingConsentInForce } from './consent';
import { queueWebhook } from './webhooks';

/**
 * A member chooses which of their own headshots the organisation's admins see. Only rendered
 * headshots of the member's own, only while the consent to share is in force.
 */
export async function shareHeadshots(
  ctx: AppContext,
  userId: string,
  organisationId: string,
  headshotIds: string[],
): Promise<{ shared: string[] }> {
  await requireMember(ctx, organisationId, userId);
  if (!(await sharingConsentInForce(ctx, organisationId, userId))) {
    throw new DomainError(
      409,
      'consent_withdrawn',
      'Sharing is off',
      'You withdrew your consent to share with this organisation; give it again (PUT …/me/consent) to share headshots.',
    );
  }
  const ids = [...new Set(headshotIds)];
  const own = await ctx.db
    .selectFrom('headshots')
    .select('id')
    .where('user_id', '=', userId)
    .where('status', '=', 'rendered')
    .where('id', 'in', ids)
    .execute();
  if (own.length !== ids.length)
    throw new DomainError(404, 'not_found', 'Headshot not found', 'Some of these are not rendered headshots of yours.');
  const now = ctx.clock.now();
  const added = await ctx.db
    .insertInto('shared_headshots')
    .values(ids.map((id) => ({ organisation_id: organisationId, headshot_id: id, user_id: userId, shared_at: now })))
    .onConflict((oc) => oc.columns(['organisation_id', 'headshot_id']).doNothing())
    .returning('headshot_id')
    .execute();
  if (added.length)
    await queueWebhook(ctx, organisationId, 'headshots.shared', {
      member_id: userId,
      headshot_ids: added.map((a) => a.headshot_id),
    });
  return { shared: ids };
}

export async function unshareHeadshot(
  ctx: AppContext,
  userId: string,
  organisationId: string,
  headshotId: string,
): Promise<void> {
  await requireMember(ctx, organisationId, userId);
  const r = await ctx.db
    .deleteFrom('shared_headshots')
    .where('organisation_id', '=', organisationId)
    .where('user_id', '=', userId)
    .where('headshot_id', '=', headshotId)
    .executeTakeFirst();
  if (!Number(r.numDeletedRows))
    throw new DomainError(
      404,
      'not_found',
      'Headshot not shared',
      'You share no headshot with that id with this organisation.',
    );
}

/** The member's own view of their place in the organisation. */
export async function mySharing(ctx: AppContext, userId: string, organisationId: string) {
  const m = await requireMember(ctx, organisationId, userId);
  const shared = await ctx.db
    .selectFrom('shared_headshots')
    .select(['headshot_id', 'review', 'review_note', 'shared_at'])
    .where('organisation_id', '=', organisationId)
    .where('user_id', '=', userId)
    .orderBy('shared_at')
    .execute();
  return { role: m.role, consent_to_share: await sharingConsentInForce(ctx, organisationId, userId), shared };
}

import type { AppContext } from '../platform/context';
import type { PolicyVersionsTable, User } from '../platform/db';
import { DomainError } from '../platform/errors';
import type { Selectable } from 'kysely';

export type PolicyVersion = Selectable<PolicyVersionsTable>;
type VersionMeta = Omit<PolicyVersion, 'text'>;
const META = ['id', 'last_updated', 'published_at', 'significant', 'material'] as const;

/** Newest published first; published_at decides, so a version published through the API becomes current. */
function newest(ctx: AppContext, filter?: 'significant' | 'material') {
  let q = ctx.db.selectFrom('policy_versions').select(META).where('published_at', '<=', ctx.clock.now());
  if (filter) q = q.where(filter, '=', true);
  return q.orderBy('published_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
}

/** The version in force now (PO1): every registration and acceptance is checked against it. */
export async function currentPolicyVersion(ctx: AppContext): Promise<VersionMeta> {
  const v = await newest(ctx);
  if (!v) throw new Error('no policy version is published');
  return v;
}

/** The newest significant change; people who had an account before it are emailed about it (PO2). */
export const newestSignificantVersion = (ctx: AppContext) => newest(ctx, 'significant');

/**
 * The material version a person still has to accept (PO3), or undefined: they accepted it or a
 * later version. Versions compare by publication time.
 */
export async function pendingMaterialVersion(
  ctx: AppContext,
  user: { policy_version_id: string },
): Promise<VersionMeta | undefined> {
  const material = await newest(ctx, 'material');
  if (!material || material.id === user.policy_version_id) return undefined;
  const accepted = await ctx.db
    .selectFrom('policy_versions')
    .select('published_at')
    .where('id', '=', user.policy_version_id)
    .executeTakeFirst();
  return accepted && new Date(accepted.published_at) >= new Date(material.published_at) ? undefined : material;
}

export async function policyVersion(ctx: AppContext, id: string): Promise<PolicyVersion | undefined> {
  return ctx.db
    .selectFrom('policy_versions')
    .selectAll()
    .where('id', '=', id)
    .where('published_at', '<=', ctx.clock.now())
    .executeTakeFirst();
}

/** Published versions, newest first, a page at a time; the cursor is the last id of the previous page. */
export async function listPolicyVersions(ctx: AppContext, limit: number, cursor?: string): Promise<VersionMeta[]> {
  let q = ctx.db.selectFrom('policy_versions').select(META).where('published_at', '<=', ctx.clock.now());
  if (cursor) {
    const after = await ctx.db
      .selectFrom('policy_versions')
      .select(['published_at', 'id'])
      .where('id', '=', cursor)
      .executeTakeFirst();
    if (!after) return [];
    q = q.where((eb) =>
      eb.or([
        eb('published_at', '<', after.published_at),
        eb.and([eb('published_at', '=', after.published_at), eb('id', '<', after.id)]),
      ]),
    );
  }
  return q.orderBy('published_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
}

/** Publishes a new version now; a published version is never rewritten. False when the id exists. */
export async function publishPolicyVersion(
  ctx: AppContext,
  v: { id: string; last_updated: string; significant: boolean; material: boolean; text: string },
): Promise<boolean> {
  const row = await ctx.db
    .insertInto('policy_versions')
    .values({ ...v, published_at: ctx.clock.now() })
    .onConflict((oc) => oc.column('id').doNothing())
    .returning('id')
    .executeTakeFirst();
  return !!row;
}

/**
 * PO3: until the person accepts the newest material version, no new order is accepted. The answer
 * names the version and both ways forward: accept it, or close the account instead.
 */
export async function requireAcceptedPolicy(ctx: AppContext, user: Pick<User, 'policy_version_id'>): Promise<void> {
  const pending = await pendingMaterialVersion(ctx, user);
  if (!pending) return;
  throw new DomainError(
    409,
    'policy_acceptance_required',
    'The privacy policy changed',
    `Our privacy policy changed materially (version ${pending.id}). Read it at GET /v1/policy/versions/${pending.id} and accept it with POST /v1/me/policy-acceptance to place new orders, or close your account instead with POST /v1/rights-requests (kind "deletion").`,
    {
      policy_version: pending.id,
      links: {
        policy: `/v1/policy/versions/${pending.id}`,
        accept: { method: 'POST', href: '/v1/me/policy-acceptance', body: { version: pending.id } },
        close_account: { method: 'POST', href: '/v1/rights-requests', body: { kind: 'deletion' } },
      },
    },
  );
}

/**
 * Publishes a new version, current from now on; published versions are never rewritten. A
 * significant one starts the notice sweep now rather than at its next run (PO2).
 */
export async function publishPolicy(
  ctx: AppContext,
  v: { id: string; last_updated: string; significant: boolean; material: boolean; text: string },
): Promise<PolicyVersion> {
  if (!(await publishPolicyVersion(ctx, v)))
    throw new DomainError(
      409,
      'policy_version_exists',
      'Version exists',
      `Policy version ${v.id} is already published; published versions are never rewritten.`,
    );
  if (v.significant) await ctx.queues.enqueue('sweep.policy-notices', {}, { jobId: `policy-publish-${v.id}` });
  return ctx.db.selectFrom('policy_versions').selectAll().where('id', '=', v.id).executeTakeFirstOrThrow();
}

/** Records a person's acceptance of the current version; only the current one can be accepted. */
export async function acceptPolicy(
  ctx: AppContext,
  userId: string,
  version: string,
): Promise<{ version: string; at: Date }> {
  const current = (await currentPolicyVersion(ctx)).id;
  if (version !== current) {
    throw new DomainError(
      409,
      'policy_version_outdated',
      'Policy version is not current',
      `Accept the current privacy policy, version ${current}.`,
      { current_policy_version: current },
    );
  }
  const now = ctx.clock.now();
  await ctx.db
    .updateTable('users')
    .set({ policy_version_id: current, policy_accepted_at: now })
    .where('id', '=', userId)
    .execute();
  return { version: current, at: now };
}

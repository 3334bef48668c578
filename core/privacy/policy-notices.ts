import { appLink } from '../notifications/links';
import { sql } from 'kysely';
import type { AppContext } from '../platform/context';
import { fanOut, retryFailed } from '../platform/fanout';
import { jobId } from '../platform/jobs';
import { sendEmailOnce } from '../notifications/email';
import { newestSignificantVersion } from './policy';

/**
 * PO2: people are emailed about a significant policy change. Who was told is read from the
 * notifications table (dedupe key policy-<version>-<user>), so nothing else needs to remember it;
 * each sweep run fans out at most POLICY_NOTICE_BATCH jobs, which is the rate limit.
 */

export const policyNoticeKey = (versionId: string, userId: string) => `policy-${versionId}-${userId}`;

export async function sweepPolicyNotices(ctx: AppContext): Promise<{ versionId: string | null; fannedOut: number }> {
  const v = await newestSignificantVersion(ctx);
  if (!v) return { versionId: null, fannedOut: 0 };
  await retryFailed(ctx, 'policy.notify');
  const prefix = `policy-${v.id}-`;
  // People whose accepted version is older than the change (those who registered or accepted since know it).
  const due = await ctx.db
    .selectFrom('users')
    .innerJoin('policy_versions as accepted', 'accepted.id', 'users.policy_version_id')
    .select('users.id')
    .where('users.status', '=', 'active')
    .where('accepted.published_at', '<', v.published_at)
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('notifications')
            .select(sql`1`.as('one'))
            .where(sql<boolean>`notifications.dedupe_key = ${prefix} || users.id`)
            .where('notifications.status', '<>', 'failed'),
        ),
      ),
    )
    .orderBy('users.id')
    .limit(ctx.config.POLICY_NOTICE_BATCH)
    .execute();
  await fanOut(
    ctx,
    'policy.notify',
    due.map((u) => ({ jobId: jobId('policy', v.id, u.id), data: { versionId: v.id, userId: u.id } })),
  );
  return { versionId: v.id, fannedOut: due.length };
}

export async function notifyPolicyChange(ctx: AppContext, versionId: string, userId: string): Promise<void> {
  const v = await ctx.db
    .selectFrom('policy_versions')
    .select(['id', 'last_updated', 'material'])
    .where('id', '=', versionId)
    .executeTakeFirst();
  if (!v) return;
  const url = appLink(ctx, 'privacy', { policy: v.id });
  const action = v.material
    ? `This change needs your explicit consent: until you accept it in your privacy centre (the same link), we cannot take new orders from you. If you do not agree, you can delete your account there instead.`
    : 'You do not need to do anything; continuing to use Rasmi means the updated policy applies.';
  await sendEmailOnce(ctx, {
    userId,
    kind: 'policy-change',
    dedupeKey: policyNoticeKey(v.id, userId),
    build: ({ name }) => ({
      subject: 'We updated our privacy policy',
      text: `Hello ${name},\n\nWe made a significant change to our privacy policy (version ${v.id}). Read it here: ${url}\n\n${action}\n\nRasmi`,
    }),
  });
}

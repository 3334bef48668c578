import { DAY_MS } from '../core/platform/config';
import { deleteExports } from '../core/privacy/deletion';
import type { HandlersFor } from '../core/platform/workers';
import { sendTeamEmailOnce } from '../core/notifications/email';
import { driveRightsRequest } from '../core/privacy/rights';
import { recordSweep } from '../core/platform/metrics';

/** An access or deletion request still open this long has lost its job: it is enqueued again. */
export const RIGHTS_STUCK_AFTER_MINUTES = 15;
const BATCH = 500;

/**
 * Rights-request sweeps (RG6, RG1). Deadlines live in Postgres; each run takes a batch of what is
 * due, and every step is idempotent (dedupe keys, fixed job ids, conditional updates).
 */
export const rightsSweeps: Pick<HandlersFor<'sweeps'>, 'sweep.rights-deadlines' | 'sweep.rights-exports'> = {
  'sweep.rights-deadlines': async (ctx) => {
    const now = ctx.clock.now();
    const escalateBefore = new Date(now.getTime() - ctx.config.RIGHTS_ESCALATE_AFTER_DAYS * DAY_MS);
    const nearing = await ctx.db
      .selectFrom('rights_requests')
      .select(['id', 'kind', 'status', 'received_at', 'due_at'])
      .where('status', 'in', ['open', 'in_progress'])
      .where('escalated_at', 'is', null)
      .where('received_at', '<=', escalateBefore)
      .orderBy('due_at')
      .limit(BATCH)
      .execute();
    for (const r of nearing) {
      const due = new Date(r.due_at);
      const daysLeft = Math.max(0, Math.ceil((due.getTime() - now.getTime()) / DAY_MS));
      // The team is no user: the mail goes to PRIVACY_TEAM_EMAIL, deduplicated per request.
      await sendTeamEmailOnce(ctx, {
        kind: 'rights-escalation',
        dedupeKey: `rights-escalation-${r.id}`,
        subject: `Rights request ${r.id} (${r.kind}) is due in ${daysLeft} day(s)`,
        text:
          `The ${r.kind} request ${r.id} received ${new Date(r.received_at).toISOString()} is still ${r.status}.\n` +
          `It must be answered by ${due.toISOString()} (${ctx.config.RIGHTS_DEADLINE_DAYS} days from receipt).\n`,
      });
      await ctx.db
        .updateTable('rights_requests')
        .set({ escalated_at: now })
        .where('id', '=', r.id)
        .where('escalated_at', 'is', null)
        .execute();
    }

    const stuckBefore = new Date(now.getTime() - RIGHTS_STUCK_AFTER_MINUTES * 60_000);
    const stuck = await ctx.db
      .selectFrom('rights_requests')
      .select(['id', 'kind'])
      .where('status', 'in', ['open', 'in_progress'])
      .where('kind', 'in', ['access', 'deletion'])
      .where('received_at', '<=', stuckBefore)
      .orderBy('received_at')
      .limit(BATCH)
      .execute();
    for (const r of stuck) await driveRightsRequest(ctx, r);
    recordSweep('rights-deadlines', { escalated: nearing.length, redriven: stuck.length });
    if (nearing.length || stuck.length)
      ctx.logger.info(
        { sweep: 'rights-deadlines', escalated: nearing.length, redriven: stuck.length },
        'rights deadlines swept',
      );
  },

  'sweep.rights-exports': async (ctx) => {
    const expiredBefore = new Date(ctx.clock.now().getTime() - ctx.config.EXPORT_RETENTION_DAYS * DAY_MS);
    const expired = await ctx.db
      .selectFrom('rights_requests')
      .select('id')
      .where('export_blob_id', 'is not', null)
      .where('completed_at', '<=', expiredBefore)
      .orderBy('completed_at')
      .limit(BATCH)
      .execute();
    const n = await deleteExports(
      ctx,
      expired.map((r) => r.id),
      'export-expired',
    );
    recordSweep('rights-exports', { deleted: n });
    if (n) ctx.logger.info({ sweep: 'rights-exports', deleted: n }, 'expired exports deleted');
  },
};

import { appLink } from '../core/notifications/links';
import { DAY_MS } from '../core/platform/config';
import { deleteUser } from '../core/privacy/deletion';
import { exportZip } from '../core/privacy/export';
import type { Handler, HandlersFor } from '../core/platform/workers';
import { sendEmailOnce } from '../core/notifications/email';

/**
 * The 'privacy' jobs of rights requests. Both are idempotent: a retry finds the request's state in
 * Postgres and carries on from there; emails go through dedupe keys.
 */

const exportData: Handler<'rights.export'> = async (ctx, { requestId }) => {
  let req = await ctx.db.selectFrom('rights_requests').selectAll().where('id', '=', requestId).executeTakeFirst();
  if (!req || req.kind !== 'access' || !req.user_id || req.status === 'rejected') return;
  const userId = req.user_id;
  if (req.status === 'open' || req.status === 'in_progress') {
    await ctx.db
      .updateTable('rights_requests')
      .set({ status: 'in_progress' })
      .where('id', '=', requestId)
      .where('status', '=', 'open')
      .execute();
    const now = ctx.clock.now();
    const { zip, files: entries } = exportZip(ctx, userId);
    const [stored, files] = await Promise.allSettled([
      ctx.storage.putStream(ctx.db, {
        userId,
        role: 'headshots',
        contentType: 'application/zip',
        source: zip,
        at: now,
      }),
      entries,
    ]);
    if (files.status === 'rejected') {
      if (stored.status === 'fulfilled') await ctx.storage.remove(ctx.db, stored.value);
      throw files.reason;
    }
    if (stored.status === 'rejected') throw stored.reason;
    const blob = stored.value;
    const expiresAt = new Date(now.getTime() + ctx.config.EXPORT_RETENTION_DAYS * DAY_MS);
    const done = await ctx.db
      .updateTable('rights_requests')
      .set({
        status: 'completed',
        completed_at: now,
        export_blob_id: blob.id,
        result: JSON.stringify({
          files: files.value,
          size_bytes: Number(blob.size_bytes),
          expires_at: expiresAt.toISOString(),
        }),
      })
      .where('id', '=', requestId)
      .where('status', 'in', ['open', 'in_progress'])
      .executeTakeFirst();
    // Another attempt finished first: keep its archive, drop ours.
    if (!Number(done.numUpdatedRows)) await ctx.storage.remove(ctx.db, blob);
    req = await ctx.db.selectFrom('rights_requests').selectAll().where('id', '=', requestId).executeTakeFirstOrThrow();
  }
  if (req.status !== 'completed' || !req.export_blob_id) return; // expired already: nothing to announce
  await sendEmailOnce(ctx, {
    userId,
    kind: 'rights-export-ready',
    dedupeKey: `rights-export-ready-${requestId}`,
    build: ({ name }) => ({
      subject: 'Your Rasmi data export is ready',
      text:
        `Hello ${name},\n\nThe copy of your personal data you asked for is ready: one ZIP with data.json and your photos and headshots.\n` +
        `Download it from your privacy centre (sign-in needed): ${appLink(ctx, 'privacy', { export: requestId })}\n\n` +
        `It is deleted after ${ctx.config.EXPORT_RETENTION_DAYS} days; you can ask for a new one at any time.\n\nRasmi`,
    }),
  });
};

const deleteAccount: Handler<'rights.delete'> = async (ctx, { requestId }) => {
  const req = await ctx.db.selectFrom('rights_requests').selectAll().where('id', '=', requestId).executeTakeFirst();
  if (!req || req.kind !== 'deletion' || req.status === 'completed' || req.status === 'rejected') return;
  const prior = (req.result ?? {}) as { retained?: string[] };
  const retained = prior.retained ?? [];
  let removed: Record<string, number | string> | undefined;
  // user_id is null once deleteUser committed (it unlinks the request): only the bookkeeping is left.
  if (req.user_id) {
    const userId = req.user_id;
    await ctx.db
      .updateTable('rights_requests')
      .set({ status: 'in_progress' })
      .where('id', '=', requestId)
      .where('status', '=', 'open')
      .execute();
    // The receipt goes first: sending needs the user row, which deleteUser removes.
    await sendEmailOnce(ctx, {
      userId,
      kind: 'rights-deletion-receipt',
      dedupeKey: `rights-deletion-receipt-${requestId}`,
      build: ({ name }) => ({
        subject: 'Your Rasmi account is being deleted',
        text:
          `Hello ${name},\n\nAs you asked, your account, personal data and photos are being deleted now; this is your receipt (request ${requestId}).\n` +
          `This address is removed with them, so this is the last email you will get from us.\n\n` +
          `Kept for legal or accounting purposes:\n${retained.map((r) => `- ${r}`).join('\n')}\n\nRasmi`,
      }),
    });
    removed = (await deleteUser(ctx, userId, 'rights-request')).details;
  }
  await ctx.db
    .updateTable('rights_requests')
    .set({
      status: 'completed',
      completed_at: ctx.clock.now(),
      result: JSON.stringify({ ...prior, retained, ...(removed ? { removed } : {}) }),
    })
    .where('id', '=', requestId)
    .where('status', '!=', 'completed')
    .execute();
};

export const rightsHandlers: Pick<HandlersFor<'privacy'>, 'rights.export' | 'rights.delete'> = {
  'rights.export': exportData,
  'rights.delete': deleteAccount,
};

import type { AppContext } from '../platform/context';
import type { Blob, Purpose } from '../platform/db';
import { DomainError, notFound } from '../platform/errors';
import { pageOf, type Page, type PageRequest } from '../platform/paging';
import { recordConsent } from './consent';
import { applyWithdrawal } from './consent-changes';
import { blockForDeletion, createRightsRequest, driveRightsRequest, retainedOnDeletion } from './rights';

/** The rights requests a person files (policy §6): access (RG1), deletion (RG3), restriction (RG4) and objection (RG5). */

export type RightsRow = Awaited<ReturnType<typeof createRightsRequest>>;

export type RightsAsk =
  | { kind: 'access' }
  | { kind: 'deletion' }
  | { kind: 'restriction'; purposes: Purpose[] }
  | { kind: 'objection'; purposes: Purpose[]; basis: 'objection' | 'withdrawal' };

/** A request filed, and what follows once it is committed. */
export interface FiledRequest {
  request: RightsRow;
  /** Restriction and objection are in force at once; access and deletion run as jobs. */
  immediate: boolean;
  refused?: { purposes: readonly Purpose[]; source: string };
}

/**
 * Files a request in the caller's transaction. RG4, RG5: a refusal per purpose, always (the
 * history shows the request), committed with the request and in force from then on. Deletion
 * blocks the account at once and names what is retained.
 */
export async function fileRightsRequest(tx: AppContext, userId: string, ask: RightsAsk): Promise<FiledRequest> {
  if (ask.kind === 'restriction' || ask.kind === 'objection') {
    const source = ask.kind === 'objection' ? ask.basis : 'restriction';
    for (const p of new Set(ask.purposes)) await recordConsent(tx, userId, p, false, source);
    const request = await createRightsRequest(tx, {
      userId,
      kind: ask.kind,
      status: 'completed',
      details: { purposes: ask.purposes, ...(ask.kind === 'objection' ? { basis: ask.basis } : {}) },
      result: {
        refused_purposes: ask.purposes,
        effective_at: tx.clock.now().toISOString(),
        re_enable: 'opt in again in your consent settings',
      },
    });
    return { request, immediate: true, refused: { purposes: ask.purposes, source } };
  }
  if (ask.kind === 'deletion') {
    const retained = await retainedOnDeletion(tx, userId);
    const request = await createRightsRequest(tx, { userId, kind: 'deletion', status: 'open', result: { retained } });
    await blockForDeletion(tx, userId);
    return { request, immediate: false };
  }
  return { request: await createRightsRequest(tx, { userId, kind: 'access', status: 'open' }), immediate: false };
}

/**
 * What follows a committed request: what a refusal removes (portfolio copies, marketing data) at
 * once, rather than at the consent sweep (which applies it should this fail); an access or
 * deletion job queued (the deadline sweep re-drives it should queueing fail).
 */
export async function followUpRightsRequest(ctx: AppContext, userId: string, filed: FiledRequest): Promise<void> {
  if (filed.refused)
    for (const p of new Set(filed.refused.purposes)) await applyWithdrawal(ctx, userId, p, filed.refused.source);
  if (!filed.immediate) {
    await driveRightsRequest(ctx, filed.request).catch((err) =>
      ctx.logger.warn({ err, requestId: filed.request.id }, 'rights job not enqueued; the deadline sweep re-drives it'),
    );
  }
}

/** A person's own request; not_found for anyone else's. */
export async function ownedRightsRequest(ctx: AppContext, userId: string, id: string): Promise<RightsRow> {
  const r = await ctx.db
    .selectFrom('rights_requests')
    .selectAll()
    .where('id', '=', id)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  if (!r) throw notFound('Rights request');
  return r;
}

/** One page of a person's requests, newest first. */
export async function rightsRequestsPage(ctx: AppContext, userId: string, page: PageRequest): Promise<Page<RightsRow>> {
  let q = ctx.db
    .selectFrom('rights_requests')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('id', 'desc')
    .limit(page.limit + 1);
  if (page.cursor) q = q.where('id', '<', page.cursor);
  return pageOf(await q.execute(), page.limit);
}

/** The archive of a completed access request, while it is kept. */
export async function exportBlob(ctx: AppContext, r: RightsRow): Promise<Blob> {
  if (r.kind !== 'access' || r.status !== 'completed')
    throw new DomainError(
      409,
      'export_not_ready',
      'Export not ready',
      'The export is still being prepared; you get an email when it is ready.',
    );
  const blob = r.export_blob_id
    ? await ctx.db.selectFrom('blobs').selectAll().where('id', '=', r.export_blob_id).executeTakeFirst()
    : undefined;
  if (!blob)
    throw new DomainError(
      410,
      'export_expired',
      'Export deleted',
      `Exports are kept for ${ctx.config.EXPORT_RETENTION_DAYS} days; ask for a new one.`,
    );
  return blob;
}

/** The export a signed link names, while its owner's account is active. */
export async function linkedExport(
  ctx: AppContext,
  userId: string,
  requestId: string,
): Promise<{ request: RightsRow; blob: Blob }> {
  const owner = await ctx.db
    .selectFrom('users')
    .select('id')
    .where('id', '=', userId)
    .where('status', '=', 'active')
    .executeTakeFirst();
  if (!owner)
    throw new DomainError(410, 'export_expired', 'No longer available', 'This export is no longer available.');
  const request = await ownedRightsRequest(ctx, userId, requestId);
  return { request, blob: await exportBlob(ctx, request) };
}

import { createHmac } from 'node:crypto';
import { handOverOwnership, tellNewOwners } from '../teams/membership';
import type { AppContext } from '../platform/context';
import { newId } from '../platform/crypto';
import type { Blob } from '../platform/db';
import { fromStorage } from '../platform/storage';

/**
 * The one way to delete personal data. Objects go first, then rows, then a deletion record with
 * ids, counts, time and reason but no personal data (RT7). Objects and rows go in one transaction
 * that first locks the photo rows, so nothing writes an object back in between, and a failure
 * leaves every row for the next run. Every step is idempotent: removing an object that is already
 * gone succeeds, so a failed run is simply run again by the next sweep.
 */

/** S3 DeleteObjects takes up to 1000 keys a request; a key that is already gone counts as deleted. */
async function removeObjects(ctx: AppContext, blobs: Pick<Blob, 'bucket' | 'object_key'>[]): Promise<void> {
  const byBucket = new Map<string, string[]>();
  for (const b of blobs) {
    const keys = byBucket.get(b.bucket) ?? [];
    keys.push(b.object_key);
    byBucket.set(b.bucket, keys);
  }
  for (const [bucket, keys] of byBucket) {
    for (let i = 0; i < keys.length; i += 1000) {
      const results = await fromStorage(ctx.storage.client.removeObjects(bucket, keys.slice(i, i + 1000)));
      const failed = results.filter((r) => r?.Error && r.Error.Code !== 'NoSuchKey');
      if (failed.length) throw new Error(`${failed.length} object(s) could not be removed from ${bucket}`);
    }
  }
}

export interface DeletionRecord {
  subjectId: string;
  subjectKind: string;
  rows: number;
  objects: number;
  details: Record<string, number | string>;
}

async function record(ctx: AppContext, reason: string, records: DeletionRecord[]): Promise<void> {
  if (!records.length) return;
  const at = ctx.clock.now();
  for (let i = 0; i < records.length; i += 1000) {
    await ctx.db
      .insertInto('deletion_records')
      .values(
        records.slice(i, i + 1000).map((r) => ({
          id: newId('del'),
          subject_id: r.subjectId,
          subject_kind: r.subjectKind,
          reason,
          rows_deleted: r.rows,
          objects_deleted: r.objects,
          details: JSON.stringify(r.details),
          performed_at: at,
        })),
      )
      .execute();
  }
}

/** A photo's objects, named as its deletion record names them. */
function objectsOf(r: {
  blob_id: string;
  thumb_blob_id: string | null;
  prepared_blob_id: string | null;
}): [name: string, blobId: string][] {
  return [
    ['blob', r.blob_id],
    ['thumbnail', r.thumb_blob_id],
    ['prepared', r.prepared_blob_id],
  ].filter((o): o is [string, string] => o[1] !== null);
}

/**
 * Deletes photos (originals) with their objects; headshots made from them stay (RT1). The rows are
 * locked from before the objects go until they go, so a photo's preparation (worker/prepare.ts,
 * which writes under the same lock) cannot put an object back in between and leave it orphaned.
 */
export async function deletePhotos(ctx: AppContext, photoIds: string[], reason: string): Promise<number> {
  if (!photoIds.length) return 0;
  const rows = await ctx.db.transaction().execute(async (trx) => {
    const locked = await trx
      .selectFrom('photos')
      .select(['id', 'blob_id', 'thumb_blob_id', 'prepared_blob_id'])
      .where('id', 'in', photoIds)
      .orderBy('id')
      .forUpdate()
      .execute();
    if (!locked.length) return locked;
    // The original, its thumbnail (made at preparation) and its render preparation (made once it
    // was judged usable, derived from the face) go together.
    const blobIds = locked.flatMap(objectsOf).map(([, id]) => id);
    await removeObjects(
      ctx,
      await trx.selectFrom('blobs').select(['bucket', 'object_key']).where('id', 'in', blobIds).execute(),
    );
    await trx
      .deleteFrom('photos')
      .where(
        'id',
        'in',
        locked.map((r) => r.id),
      )
      .execute();
    await trx.deleteFrom('blobs').where('id', 'in', blobIds).execute();
    return locked;
  });
  await record(
    ctx,
    reason,
    rows.map((r): DeletionRecord => {
      const objects = objectsOf(r);
      return {
        subjectId: r.id,
        subjectKind: 'photo',
        rows: 1 + objects.length,
        objects: objects.length,
        details: Object.fromEntries(objects),
      };
    }),
  );
  return rows.length;
}

/** Deletes rendered headshots with their objects (RT2); their portfolio copies go with them. */
export async function deleteHeadshots(ctx: AppContext, headshotIds: string[], reason: string): Promise<number> {
  if (!headshotIds.length) return 0;
  const rows = await ctx.db
    .selectFrom('headshots')
    .leftJoin('blobs', 'blobs.id', 'headshots.blob_id')
    .select(['headshots.id', 'blobs.id as blob_id', 'blobs.bucket', 'blobs.object_key'])
    .where('headshots.id', 'in', headshotIds)
    .execute();
  const stored = rows.filter(
    (r): r is typeof r & { blob_id: string; bucket: string; object_key: string } => r.blob_id !== null,
  );
  await removeObjects(ctx, stored);
  await ctx.db.transaction().execute(async (trx) => {
    await trx
      .deleteFrom('headshots')
      .where(
        'id',
        'in',
        rows.map((r) => r.id),
      )
      .execute();
    if (stored.length)
      await trx
        .deleteFrom('blobs')
        .where(
          'id',
          'in',
          stored.map((r) => r.blob_id),
        )
        .execute();
  });
  await record(
    ctx,
    reason,
    rows.map(
      (r): DeletionRecord => ({
        subjectId: r.id,
        subjectKind: 'headshot',
        rows: r.blob_id ? 2 : 1,
        objects: r.blob_id ? 1 : 0,
        details: r.blob_id ? { blob: r.blob_id } : {},
      }),
    ),
  );
  return rows.length;
}

/** Purges transaction records at the end of the accounting period (RT4, PY2). */
export async function purgePayments(ctx: AppContext, paymentIds: string[], reason: string): Promise<number> {
  if (!paymentIds.length) return 0;
  await ctx.db.deleteFrom('payments').where('id', 'in', paymentIds).execute();
  await record(
    ctx,
    reason,
    paymentIds.map((id) => ({ subjectId: id, subjectKind: 'payment', rows: 1, objects: 0, details: {} })),
  );
  return paymentIds.length;
}

/** A stable opaque reference for a deleted person's transaction records; not reversible without the key. */
export function pseudonymFor(hashKeyHex: string, userId: string): string {
  return `psn_${createHmac('sha256', Buffer.from(hashKeyHex, 'hex')).update(`pseudonym:${userId}`).digest('hex').slice(0, 24)}`;
}

/**
 * Deletes a person: every object they own, then their rows. Transaction records survive,
 * pseudonymised, for the accounting period (PY2); they are named in the returned summary.
 */
export async function deleteUser(
  ctx: AppContext,
  userId: string,
  reason: string,
): Promise<DeletionRecord & { retained: string[] }> {
  const counts: Record<string, number> = {};
  const now = ctx.clock.now();
  const done = await ctx.db.transaction().execute(async (trx) => {
    // Their photos are locked before any object goes, as in deletePhotos (in id order, so two
    // deletions over the same photos queue up instead of deadlocking).
    await trx.selectFrom('photos').select('id').where('user_id', '=', userId).orderBy('id').forUpdate().execute();
    const owned = await trx
      .selectFrom('blobs')
      .select(['id', 'bucket', 'object_key'])
      .where('user_id', '=', userId)
      .execute();
    await removeObjects(ctx, owned);
    const n = async (table: string, q: Promise<{ numDeletedRows?: bigint; numUpdatedRows?: bigint }>) => {
      const r = await q;
      counts[table] = Number(r.numDeletedRows ?? r.numUpdatedRows ?? 0);
    };
    await n(
      'payments_pseudonymised',
      trx
        .updateTable('payments')
        .set({ user_id: null, pseudonym: pseudonymFor(ctx.config.PII_HASH_KEY, userId), pseudonymised_at: now })
        .where('user_id', '=', userId)
        .executeTakeFirst(),
    );
    await n('portfolio_items', trx.deleteFrom('portfolio_items').where('user_id', '=', userId).executeTakeFirst());
    await n('headshots', trx.deleteFrom('headshots').where('user_id', '=', userId).executeTakeFirst());
    await n('photos', trx.deleteFrom('photos').where('user_id', '=', userId).executeTakeFirst());
    await n('orders', trx.deleteFrom('orders').where('user_id', '=', userId).executeTakeFirst());
    await n(
      'rights_requests_unlinked',
      trx.updateTable('rights_requests').set({ export_blob_id: null }).where('user_id', '=', userId).executeTakeFirst(),
    );
    await n('inquiries', trx.deleteFrom('inquiries').where('user_id', '=', userId).executeTakeFirst());
    await n('blobs', trx.deleteFrom('blobs').where('user_id', '=', userId).executeTakeFirst());
    for (const table of [
      'sessions',
      'sign_in_codes',
      'consents',
      'cookie_consents',
      'analytics_events',
      'idempotency_keys',
    ] as const) {
      await n(table, trx.deleteFrom(table).where('user_id', '=', userId).executeTakeFirst());
    }
    await n(
      'notifications_unlinked',
      trx.updateTable('notifications').set({ user_id: null }).where('user_id', '=', userId).executeTakeFirst(),
    );
    await n(
      'rights_requests_kept',
      trx.updateTable('rights_requests').set({ user_id: null }).where('user_id', '=', userId).executeTakeFirst(),
    );
    // No organisation is left without an owner: each passes on before the membership goes with the user.
    const teams = await handOverOwnership(trx, userId);
    counts.organisations_closed = teams.closed;
    counts.organisations_handed_over = teams.handedOver.length;
    await n('users', trx.deleteFrom('users').where('id', '=', userId).executeTakeFirst());
    return { owned, handedOver: teams.handedOver };
  });
  const rows = Object.entries(counts)
    .filter(([k]) => !/_(unlinked|kept|pseudonymised|handed_over)$/.test(k))
    .reduce((a, [, v]) => a + v, 0);
  const summary = { subjectId: userId, subjectKind: 'user', rows, objects: done.owned.length, details: counts };
  await record(ctx, reason, [summary]);
  // After the record: a mail server that fails does not undo or hide the deletion.
  await tellNewOwners(ctx, done.handedOver).catch((err: Error) =>
    ctx.logger.warn({ err: err.message }, 'could not tell the new owner of an organisation'),
  );
  return {
    ...summary,
    retained: counts.payments_pseudonymised
      ? ['transaction records (pseudonymised), kept for accounting for the legal period']
      : [],
  };
}

/** Deletes expired data exports (RG1): the archive object and its blob row; the request row stays. */
export async function deleteExports(ctx: AppContext, requestIds: string[], reason: string): Promise<number> {
  if (!requestIds.length) return 0;
  const rows = await ctx.db
    .selectFrom('rights_requests')
    .innerJoin('blobs', 'blobs.id', 'rights_requests.export_blob_id')
    .select(['rights_requests.id', 'blobs.id as blob_id', 'blobs.bucket', 'blobs.object_key'])
    .where('rights_requests.id', 'in', requestIds)
    .execute();
  if (!rows.length) return 0;
  await removeObjects(ctx, rows);
  await ctx.db.transaction().execute(async (trx) => {
    await trx
      .updateTable('rights_requests')
      .set({ export_blob_id: null })
      .where(
        'id',
        'in',
        rows.map((r) => r.id),
      )
      .execute();
    await trx
      .deleteFrom('blobs')
      .where(
        'id',
        'in',
        rows.map((r) => r.blob_id),
      )
      .execute();
  });
  await record(
    ctx,
    reason,
    rows.map((r) => ({ subjectId: r.blob_id, subjectKind: 'export', rows: 1, objects: 1, details: { request: r.id } })),
  );
  return rows.length;
}

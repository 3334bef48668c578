import type { AppContext } from '../platform/context';
import type { Db, Photo, PhotoStatus } from '../platform/db';
import { jobId } from '../platform/jobs';
import { publishPhotoStatus } from './photo-events';
import { UNDECODABLE_VERDICT, type FaceGeometry, type StoredVerdict, type Verdict } from './verdict';

/**
 * A photo's status, and every change of it, in one place. A photo moves one way:
 *
 *   preparing ─┬─> analysing ──> usable | unusable
 *              └─> rejected (could not be decoded at full size)
 *
 * Each change is guarded by the status it leaves (a retry or a race changes nothing twice) and
 * announced to its owner's event streams once it is committed. A usable photo then gets its render
 * preparation (lockUnprepared, markRenderReady), without a change of status. The verdict column is read and
 * written here only, as a StoredVerdict.
 */

/** The status an upload starts in: stored as sent, to be oriented and stripped by its preparation. */
export const UPLOADED: PhotoStatus = 'preparing';

/** The stored verdict of a photo, typed; null before its analysis. */
export function storedVerdict(photo: Pick<Photo, 'verdict'>): StoredVerdict | null {
  return (photo.verdict as StoredVerdict | null) ?? null;
}

/** The verdict column's value for a verdict and the subject's geometry. */
function verdictColumn(verdict: Verdict, geometry?: FaceGeometry): string {
  const stored: StoredVerdict = geometry ? { ...verdict, geometry } : verdict;
  return JSON.stringify(stored);
}

/**
 * Locks a photo still preparing, in the caller's transaction: one preparation writes at a time.
 * False when it is gone or another run prepared it.
 */
export async function lockPreparing(trx: Db, photoId: string): Promise<boolean> {
  const row = await trx.selectFrom('photos').select('status').where('id', '=', photoId).forUpdate().executeTakeFirst();
  return row?.status === 'preparing';
}

/** preparing -> analysing, under lockPreparing: prepared, its size and thumbnail recorded. */
export async function markPrepared(
  trx: Db,
  photoId: string,
  prepared: { width: number; height: number; thumbBlobId: string | null },
): Promise<void> {
  await trx
    .updateTable('photos')
    .set({ status: 'analysing', width: prepared.width, height: prepared.height, thumb_blob_id: prepared.thumbBlobId })
    .where('id', '=', photoId)
    .execute();
}

/** preparing -> rejected, under lockPreparing: undecodable at full size, with the verdict that says so. */
export async function markUndecodable(ctx: AppContext, trx: Db, photoId: string): Promise<void> {
  await trx
    .updateTable('photos')
    .set({ status: 'rejected', verdict: verdictColumn(UNDECODABLE_VERDICT), processed_at: ctx.clock.now() })
    .where('id', '=', photoId)
    .execute();
}

/**
 * analysing -> usable | unusable: the verdict and the subject's geometry stored, and the change
 * announced. Undefined when the photo was deleted or judged meanwhile.
 */
export async function markJudged(
  ctx: AppContext,
  photo: Pick<Photo, 'id' | 'user_id'>,
  verdict: Verdict,
  geometry?: FaceGeometry,
): Promise<PhotoStatus | undefined> {
  const status = verdict.usable ? 'usable' : 'unusable';
  const r = await ctx.db
    .updateTable('photos')
    .set({ status, verdict: verdictColumn(verdict, geometry), processed_at: ctx.clock.now() })
    .where('id', '=', photo.id)
    .where('status', '=', 'analysing')
    .executeTakeFirst();
  if (!Number(r.numUpdatedRows)) return undefined;
  await announce(ctx, photo, status);
  return status;
}

/**
 * Locks a usable photo that has no render preparation yet, in the caller's transaction, as
 * deletion locks it (core/privacy/deletion.ts): one preparation is recorded at a time, and none for
 * a photo deleted meanwhile. False when it is gone, not usable, or already prepared.
 */
export async function lockUnprepared(trx: Db, photoId: string): Promise<boolean> {
  const row = await trx
    .selectFrom('photos')
    .select(['status', 'prepared_blob_id'])
    .where('id', '=', photoId)
    .forUpdate()
    .executeTakeFirst();
  return row?.status === 'usable' && !row.prepared_blob_id;
}

/** A usable photo's render preparation recorded, under lockUnprepared; its status does not change. */
export async function markRenderReady(trx: Db, photoId: string, blobId: string): Promise<void> {
  await trx.updateTable('photos').set({ prepared_blob_id: blobId }).where('id', '=', photoId).execute();
}

/** Tells the owner's event streams of a committed change. */
export async function announce(
  ctx: AppContext,
  photo: Pick<Photo, 'id' | 'user_id'>,
  status: PhotoStatus,
): Promise<void> {
  await publishPhotoStatus(ctx, { user: photo.user_id, id: photo.id, status });
}

/**
 * Photos uploaded before cutoff and still waiting on a job that was lost (Redis flushed) or failed
 * for good: 'preparing' ones get their preparation again (the raw upload must not linger),
 * 'analysing' ones their verdict (the owner is waiting to learn whether they are usable). Up to
 * limit of each; returns how many.
 */
export async function redriveStalledPhotos(ctx: AppContext, cutoff: Date, limit: number): Promise<number> {
  let n = 0;
  for (const [status, job, prefix] of [
    ['preparing', 'photo.prepare', 'prepare'],
    ['analysing', 'photo.analyse', 'analyse'],
  ] as const) {
    const waiting = await ctx.db
      .selectFrom('photos')
      .select('id')
      .where('status', '=', status)
      .where('uploaded_at', '<', cutoff)
      .orderBy('uploaded_at')
      .limit(limit)
      .execute();
    for (const p of waiting) await ctx.queues.redrive(job, { photoId: p.id }, jobId(prefix, p.id));
    n += waiting.length;
  }
  return n;
}

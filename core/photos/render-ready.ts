import type { AppContext } from '../platform/context';
import { jobId } from '../platform/jobs';
import { lockUnprepared, markRenderReady, storedVerdict } from './lifecycle';
import type { FaceGeometry } from './verdict';

/** Makes a photo's render preparation from its stored original (the worker's pixel threads). */
export type Prepare = (original: Buffer, geometry: FaceGeometry) => Promise<Uint8Array>;

/** The stored preparation's type: a versioned binary form only the worker reads (worker/prepared-form.ts). */
export const PREPARED_TYPE = 'application/vnd.rasmi.prepared';

/**
 * Once a photo is judged usable, its style-independent render work (framing, matte, foreground
 * colours, light, the face-true reference: about 550 ms of CPU at 12 MP) is done once and kept as
 * an encrypted object beside the original, owned by the same person and deleted with the photo
 * (core/privacy/deletion.ts), so an order's first headshot only reads it and composes. A render
 * without it (not made yet, made by another version) prepares on the spot, as before.
 * The object goes up before the transaction (no connection held during the upload) and is recorded
 * under the photo's row lock, or removed if the photo was deleted or prepared meanwhile: no orphan.
 * False when there was nothing to do or the race was lost.
 */
export async function makeRenderReady(ctx: AppContext, photoId: string, prepare: Prepare): Promise<boolean> {
  const photo = await ctx.db.selectFrom('photos').selectAll().where('id', '=', photoId).executeTakeFirst();
  const geometry = photo && storedVerdict(photo)?.geometry;
  if (photo?.status !== 'usable' || photo.prepared_blob_id || !geometry) return false;
  const blob = await ctx.db.selectFrom('blobs').selectAll().where('id', '=', photo.blob_id).executeTakeFirstOrThrow();
  const bytes = await prepare(await ctx.storage.read(blob), geometry);
  const uploaded = await ctx.storage.upload({
    userId: photo.user_id,
    role: 'originals',
    contentType: PREPARED_TYPE,
    data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    at: ctx.clock.now(),
  });
  const remove = () => ctx.storage.removeObject({ bucket: uploaded.bucket, object_key: uploaded.objectKey });
  const recorded = await ctx.db
    .transaction()
    .execute(async (trx) => {
      if (!(await lockUnprepared(trx, photoId))) return false;
      await markRenderReady(trx, photoId, (await ctx.storage.recordUploaded(trx, uploaded)).id);
      return true;
    })
    .catch(async (err) => {
      await remove().catch(() => {});
      throw err;
    });
  if (!recorded) await remove();
  return recorded;
}

/** The job that makes a photo's render preparation: one a photo (a retried verdict queues no second). */
export const renderReadyJob = (photoId: string) => jobId('ready', photoId);

/** How long after its order a render waits for a preparation being made, and how often it looks again. */
export const PREPARATION_WAIT_MS = 30_000;
export const PREPARATION_POLL_MS = 500;

/**
 * Whether the headshot's photo has no stored preparation yet but one is on its way (queued, delayed
 * or being made): an order placed seconds after the verdict would otherwise prepare the photo a
 * second time on the spot (1.5 s of CPU at 12 MP, 5 s with ESRGAN) while the upload side does the
 * same. A preparation still queued behind verdicts is moved to the front.
 */
export async function awaitsPreparation(ctx: AppContext, headshotId: string): Promise<boolean> {
  const row = await ctx.db
    .selectFrom('headshots')
    .innerJoin('photos', 'photos.id', 'headshots.photo_id')
    .select(['photos.id as photoId', 'photos.prepared_blob_id as prepared', 'headshots.status as status'])
    .where('headshots.id', '=', headshotId)
    .executeTakeFirst();
  if (!row || row.status !== 'pending' || row.prepared) return false;
  return ctx.queues.hurry('photo.prepare-render', renderReadyJob(row.photoId));
}

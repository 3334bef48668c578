import type { AppContext } from '../platform/context';
import type { User } from '../platform/db';
import { notFound } from '../platform/errors';
import { auditStaffRead } from './audit';
import { deleteHeadshots, deletePhotos } from './deletion';

/**
 * A privacy officer marks a photo as a minor's (PH4, audited). With the uploader's attestation of
 * parental authority it is kept and marked; without it, it is deleted at once with what was made from it.
 */
export async function markMinorPhoto(
  ctx: AppContext,
  officer: Pick<User, 'id' | 'role'>,
  photoId: string,
): Promise<{ deleted: boolean; headshotsDeleted: number; parentalAttestationAt: Date | null }> {
  const photo = await ctx.db
    .selectFrom('photos')
    .select(['id', 'user_id', 'parental_attestation_at'])
    .where('id', '=', photoId)
    .executeTakeFirst();
  if (!photo) throw notFound('Photo');
  await auditStaffRead(ctx, officer, {
    action: 'mark-minor',
    subjectUserId: photo.user_id,
    resource: 'photo',
    resourceId: photo.id,
  });
  if (photo.parental_attestation_at) {
    await ctx.db.updateTable('photos').set({ subject: 'minor' }).where('id', '=', photo.id).execute();
    return { deleted: false, headshotsDeleted: 0, parentalAttestationAt: new Date(photo.parental_attestation_at) };
  }
  const derived = await ctx.db.selectFrom('headshots').select('id').where('photo_id', '=', photo.id).execute();
  const headshotsDeleted = await deleteHeadshots(
    ctx,
    derived.map((h) => h.id),
    'minor-without-consent',
  );
  await deletePhotos(ctx, [photo.id], 'minor-without-consent');
  return { deleted: true, headshotsDeleted, parentalAttestationAt: null };
}

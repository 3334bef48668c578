import { sql, type Kysely } from 'kysely';

/**
 * Photos are judged at upload (status 'analysing' until the verdict, then 'usable' or 'unusable');
 * 'rejected' is left to files that could not be decoded. Prepared photos still waiting for an
 * order ('uploaded') are judged by the stalled-work sweep, which finds them through a partial index
 * like the preparing one. Frozen: imports no app code.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.updateTable('photos').set({ status: 'analysing' }).where('status', '=', 'uploaded').execute();
  await db
    .updateTable('photos')
    .set({ status: 'unusable' })
    .where('status', '=', 'rejected')
    .where(sql<boolean>`coalesce(verdict -> 'reasons' @> '[{"code":"corrupt_image"}]'::jsonb, false)`, '=', false)
    .execute();
  await db.schema
    .createIndex('photos_analysing')
    .on('photos')
    .column('uploaded_at')
    .where(sql.ref('status'), '=', 'analysing')
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('photos_analysing').ifExists().execute();
  await db.updateTable('photos').set({ status: 'rejected' }).where('status', '=', 'unusable').execute();
  await db.updateTable('photos').set({ status: 'uploaded' }).where('status', '=', 'analysing').execute();
}

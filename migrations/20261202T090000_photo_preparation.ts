import { sql, type Kysely } from 'kysely';

/**
 * Uploads are prepared by a worker after the API accepts them (status 'preparing'); the stalled-work
 * sweep looks for ones left behind every minute, so it gets a small partial index. Frozen: imports
 * no app code.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('photos_preparing')
    .on('photos')
    .column('uploaded_at')
    .where(sql.ref('status'), '=', 'preparing')
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('photos_preparing').ifExists().execute();
}

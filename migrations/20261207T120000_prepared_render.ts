import type { Kysely } from 'kysely';

/**
 * A usable photo's style-independent render work (framing, matte, foreground colours, light, the
 * face-true reference), made once when it is judged usable and kept as an encrypted object beside
 * the original, so an order's first headshot only composes (issue 20). Derived from the face: it is
 * deleted with the photo. Frozen: imports no app code.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('photos')
    .addColumn('prepared_blob_id', 'text', (c) => c.references('blobs.id'))
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('photos').dropColumn('prepared_blob_id').execute();
}

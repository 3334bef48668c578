import type { Kysely } from 'kysely';

/**
 * What was paid for is delivered (issue 18): an order records how many headshots it will make;
 * a headshot has a position within its style and, when its render failed, the headshot made in
 * its place from the order's next photo; a missing headshot is refunded once (refunds, kept with
 * the payments as transaction records); a photo has a small thumbnail the service made.
 * Frozen: imports no app code.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('orders').addColumn('headshots_expected', 'integer').execute();
  await db.schema
    .alterTable('headshots')
    .addColumn('position', 'integer')
    .addColumn('replaced_by', 'text', (c) => c.references('headshots.id').onDelete('set null'))
    .execute();
  await db.schema
    .createTable('refunds')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('order_id', 'text', (c) => c.unique().references('orders.id').onDelete('set null'))
    .addColumn('payment_id', 'text', (c) => c.notNull().references('payments.id').onDelete('cascade'))
    .addColumn('amount_cents', 'integer', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('headshots_missing', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('processor_ref', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('succeeded_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('refunds_payment').on('refunds').column('payment_id').execute();
  await db.schema
    .alterTable('photos')
    .addColumn('thumb_blob_id', 'text', (c) => c.references('blobs.id'))
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('photos').dropColumn('thumb_blob_id').execute();
  await db.schema.dropTable('refunds').execute();
  await db.schema.alterTable('headshots').dropColumn('replaced_by').dropColumn('position').execute();
  await db.schema.alterTable('orders').dropColumn('headshots_expected').execute();
}

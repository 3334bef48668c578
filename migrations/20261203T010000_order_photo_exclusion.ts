import type { Kysely } from 'kysely';

/**
 * The person can leave a photo out of an order before paying (after seeing which photos the
 * headshots would be made from and why). Frozen: imports no app code.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('order_photos')
    .addColumn('excluded', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('order_photos').dropColumn('excluded').execute();
}

import { sql, type Kysely } from 'kysely';

/**
 * The organisation's credit (seat_credits: what its seat orders could not make) taken off a seat
 * purchase: the credit left is what was credited less what purchases took. A purchase still
 * awaiting its payment holds the credit it took; a withdrawn one (deleted) gives it back.
 * Frozen: imports no app code.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('seat_purchases')
    .addColumn('credit_cents', 'integer', (c) => c.notNull().defaultTo(0).check(sql`credit_cents >= 0`))
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('seat_purchases').dropColumn('credit_cents').execute();
}

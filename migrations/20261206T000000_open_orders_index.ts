import { sql, type Kysely } from 'kysely';

/**
 * Orders being made (paid, not yet delivered) by when they were paid for: the stalled-order sweep
 * reads them every minute, and every role's /metrics reads the oldest one at each scrape (the
 * delivery alert), so neither scans the whole orders table. Frozen: imports no app code.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index orders_open on orders ((coalesce(paid_at, created_at))) where status in ('received', 'processing')`.execute(
    db,
  );
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('orders_open').execute();
}

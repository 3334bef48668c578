import { type Kysely, sql } from 'kysely';

/**
 * The privacy lifecycle: consents with history, rights requests with deadlines, deletion records,
 * an append-only staff audit log, breaches and their notices, inquiries, analytics events, and the
 * dates retention counts from. Frozen: imports no app code.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('users')
    .addColumn('email_pending_enc', 'text')
    .addColumn('email_pending_hash', 'text')
    .addColumn('email_pending_code_hash', 'text')
    .addColumn('email_pending_expires_at', 'timestamptz')
    .addColumn('retention_warned_at', 'timestamptz')
    .addColumn('deletion_requested_at', 'timestamptz')
    .addColumn('deleted_at', 'timestamptz')
    .execute();
  // Opt-ins move to the consents table, which keeps their history.
  await db.schema.alterTable('users').dropColumn('whatsapp_opt_in').dropColumn('marketing_opt_in').execute();

  await db.schema
    .alterTable('photos')
    .addColumn('subject', 'text', (c) => c.notNull().defaultTo('self'))
    .addColumn('parental_attestation_at', 'timestamptz')
    .execute();

  // Foreign keys that deletions check: without these, deleting a blob scans every photo.
  await db.schema.createIndex('photos_blob').on('photos').column('blob_id').execute();
  await db.schema.createIndex('headshots_blob').on('headshots').column('blob_id').execute();
  await db.schema.createIndex('headshots_photo').on('headshots').column('photo_id').execute();
  await db.schema.createIndex('headshots_delivered').on('headshots').column('delivered_at').execute();
  await db.schema.createIndex('order_photos_photo').on('order_photos').column('photo_id').execute();
  await db.schema.createIndex('payments_order').on('payments').column('order_id').execute();
  await db.schema.createIndex('payments_user').on('payments').column('user_id').execute();
  await db.schema.createIndex('payments_created').on('payments').column('created_at').execute();
  await db.schema.createIndex('blobs_user').on('blobs').column('user_id').execute();
  await db.schema.createIndex('users_last_used').on('users').column('last_used_at').execute();

  // Pseudonymised transaction records keep an opaque reference instead of the user id (PY2).
  await db.schema
    .alterTable('payments')
    .addColumn('pseudonym', 'text')
    .addColumn('pseudonymised_at', 'timestamptz')
    .execute();

  // Consent per purpose, with history: the newest row per (user, purpose) is in force.
  await db.schema
    .createTable('consents')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('granted', 'boolean', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('recorded_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('consents_user_purpose')
    .on('consents')
    .columns(['user_id', 'purpose', 'recorded_at'])
    .execute();

  // Cookie consent of a browser (visitor id from an essential cookie), optionally tied to a user.
  await db.schema
    .createTable('cookie_consents')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('visitor_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('preference', 'boolean', (c) => c.notNull())
    .addColumn('analytics', 'boolean', (c) => c.notNull())
    .addColumn('marketing', 'boolean', (c) => c.notNull())
    .addColumn('recorded_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('cookie_consents_visitor')
    .on('cookie_consents')
    .columns(['visitor_id', 'recorded_at'])
    .execute();

  // Usage analytics: truncated IPs only (CN5), never without consent (CN2, CN3).
  await db.schema
    .createTable('analytics_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('visitor_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('path', 'text')
    .addColumn('ip_truncated', 'text')
    .addColumn('browser', 'text')
    .addColumn('device', 'text')
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('analytics_events_time').on('analytics_events').column('occurred_at').execute();

  await db.schema
    .createTable('rights_requests')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('details', 'jsonb')
    .addColumn('result', 'jsonb')
    .addColumn('export_blob_id', 'text', (c) => c.references('blobs.id').onDelete('set null'))
    .addColumn('received_at', 'timestamptz', (c) => c.notNull())
    .addColumn('due_at', 'timestamptz', (c) => c.notNull())
    .addColumn('completed_at', 'timestamptz')
    .addColumn('escalated_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('rights_requests_open').on('rights_requests').columns(['status', 'due_at']).execute();
  await db.schema.createIndex('rights_requests_export').on('rights_requests').column('export_blob_id').execute();

  // What was deleted, when and why: ids and counts only, no personal data (RT7).
  await db.schema
    .createTable('deletion_records')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('subject_id', 'text', (c) => c.notNull())
    .addColumn('subject_kind', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('rows_deleted', 'integer', (c) => c.notNull())
    .addColumn('objects_deleted', 'integer', (c) => c.notNull())
    .addColumn('details', 'jsonb', (c) => c.notNull())
    .addColumn('performed_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('deletion_records_subject').on('deletion_records').column('subject_id').execute();

  // Append-only: staff reads of a person's data (SC3). Ids, never personal data.
  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('actor_id', 'text', (c) => c.notNull())
    .addColumn('actor_role', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('subject_user_id', 'text')
    .addColumn('resource', 'text', (c) => c.notNull())
    .addColumn('resource_id', 'text')
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .execute();
  await sql`create function audit_log_append_only() returns trigger language plpgsql as $$
            begin raise exception 'audit_log is append-only'; end $$`.execute(db);
  await sql`create trigger audit_log_no_change before update or delete on audit_log
            for each row execute function audit_log_append_only()`.execute(db);

  await db.schema
    .createTable('breaches')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('detected_at', 'timestamptz', (c) => c.notNull())
    .addColumn('notify_by', 'timestamptz', (c) => c.notNull())
    .addColumn('recorded_by', 'text', (c) => c.notNull())
    .addColumn('recorded_at', 'timestamptz', (c) => c.notNull())
    .addColumn('escalated_at', 'timestamptz')
    .addColumn('closed_at', 'timestamptz')
    .execute();

  await db.schema
    .createTable('breach_notices')
    .addColumn('breach_id', 'text', (c) => c.notNull().references('breaches.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending'))
    .addColumn('channels', 'jsonb')
    .addColumn('notified_at', 'timestamptz')
    .addPrimaryKeyConstraint('breach_notices_pk', ['breach_id', 'user_id'])
    .execute();
  await db.schema.createIndex('breach_notices_pending').on('breach_notices').columns(['status', 'breach_id']).execute();

  await db.schema
    .createTable('inquiries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('subject_enc', 'text', (c) => c.notNull())
    .addColumn('body_enc', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('received_at', 'timestamptz', (c) => c.notNull())
    .addColumn('first_response_due', 'timestamptz', (c) => c.notNull())
    .addColumn('resolution_due', 'timestamptz', (c) => c.notNull())
    .addColumn('first_responded_at', 'timestamptz')
    .addColumn('resolved_at', 'timestamptz')
    .addColumn('escalated_at', 'timestamptz')
    .execute();

  // Public portfolio: copies of headshots whose owners opted in, with no link to a name (CN4).
  await db.schema
    .createTable('portfolio_items')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('headshot_id', 'text', (c) => c.notNull().unique().references('headshots.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('style_id', 'text', (c) => c.notNull())
    .addColumn('published_at', 'timestamptz', (c) => c.notNull())
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  for (const t of [
    'portfolio_items',
    'inquiries',
    'breach_notices',
    'breaches',
    'audit_log',
    'deletion_records',
    'rights_requests',
    'analytics_events',
    'cookie_consents',
    'consents',
  ]) {
    await db.schema.dropTable(t).ifExists().execute();
  }
  await sql`drop function if exists audit_log_append_only`.execute(db);
}

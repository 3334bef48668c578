import { sql, type Kysely } from 'kysely';

/**
 * Teams (issue 23): organisations order consistent headshots for their people, each person with
 * their own consent. An organisation has members (owner, admin, member), invitations (by email,
 * single use; or an open link limited to an email domain, with a cap), seats bought through the
 * payment processor that members' orders draw on (what an order could not make goes back to the
 * organisation), the headshots each member chose to share with it (with the admins' review), the
 * member's consent to share (history kept, the newest in force, as the other consents), and signed
 * webhooks with their delivery log. Orders record the brand's backdrop they were made with.
 * Frozen: imports no app code.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('organisations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('billing_email_enc', 'text', (c) => c.notNull())
    .addColumn('allowed_styles', 'jsonb')
    .addColumn('backdrop', 'jsonb')
    .addColumn('logo_blob_id', 'text', (c) => c.references('blobs.id').onDelete('set null'))
    .addColumn('webhook_url', 'text')
    .addColumn('webhook_secret_enc', 'text')
    .addColumn('reminder_days', 'integer', (c) => c.notNull().defaultTo(3))
    .addColumn('created_by', 'text', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('organisation_members')
    .addColumn('organisation_id', 'text', (c) => c.notNull().references('organisations.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('owner', 'admin', 'member')`))
    .addColumn('invitation_id', 'text')
    .addColumn('joined_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('organisation_members_pk', ['organisation_id', 'user_id'])
    .execute();
  await db.schema.createIndex('organisation_members_user').on('organisation_members').column('user_id').execute();

  // The member's consent to share chosen headshots with one organisation: history, newest in force.
  await db.schema
    .createTable('organisation_consents')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('organisation_id', 'text', (c) => c.notNull().references('organisations.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('granted', 'boolean', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('recorded_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('organisation_consents_user')
    .on('organisation_consents')
    .columns(['user_id', 'organisation_id', 'recorded_at'])
    .execute();

  await db.schema
    .createTable('organisation_invitations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('organisation_id', 'text', (c) => c.notNull().references('organisations.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('email', 'link')`))
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('admin', 'member')`))
    .addColumn('email_hash', 'text')
    .addColumn('email_enc', 'text')
    .addColumn('domain', 'text')
    .addColumn('max_uses', 'integer')
    .addColumn('uses', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('accepted_at', 'timestamptz')
    .addColumn('accepted_by', 'text', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('created_by', 'text', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('organisation_invitations_org')
    .on('organisation_invitations')
    .columns(['organisation_id', 'created_at'])
    .execute();

  // Seats: bought through the processor (a payments row, kept as a transaction record).
  await db.schema
    .createTable('seat_purchases')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('organisation_id', 'text', (c) => c.references('organisations.id').onDelete('set null'))
    .addColumn('package_id', 'text', (c) => c.notNull())
    .addColumn('seats', 'integer', (c) => c.notNull().check(sql`seats > 0`))
    .addColumn('amount_cents', 'integer', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('payment_id', 'text', (c) => c.notNull().unique().references('payments.id'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('paid_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('seat_purchases_org').on('seat_purchases').column('organisation_id').execute();

  // A member's order paid with a seat; returned_at when the order made nothing at all.
  await db.schema
    .createTable('seat_draws')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('organisation_id', 'text', (c) => c.notNull().references('organisations.id').onDelete('cascade'))
    .addColumn('order_id', 'text', (c) => c.unique().references('orders.id').onDelete('set null'))
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('package_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('seat', 'redo')`))
    .addColumn('drawn_at', 'timestamptz', (c) => c.notNull())
    .addColumn('returned_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('seat_draws_org').on('seat_draws').column('organisation_id').execute();

  // Money an organisation is owed for headshots a seat order could not make (once per order and reason).
  await db.schema
    .createTable('seat_credits')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('organisation_id', 'text', (c) => c.notNull().references('organisations.id').onDelete('cascade'))
    .addColumn('order_id', 'text', (c) => c.references('orders.id').onDelete('set null'))
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('amount_cents', 'integer', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('headshots', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addUniqueConstraint('seat_credits_once', ['order_id', 'reason'])
    .execute();

  // What a member shares: removed with the headshot, the membership's end or the consent's withdrawal.
  await db.schema
    .createTable('shared_headshots')
    .addColumn('organisation_id', 'text', (c) => c.notNull().references('organisations.id').onDelete('cascade'))
    .addColumn('headshot_id', 'text', (c) => c.notNull().references('headshots.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('shared_at', 'timestamptz', (c) => c.notNull())
    .addColumn('review', 'text', (c) =>
      c.notNull().defaultTo('pending').check(sql`review in ('pending', 'approved', 'redo_requested')`),
    )
    .addColumn('review_note', 'text')
    .addColumn('reviewed_by', 'text', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('reviewed_at', 'timestamptz')
    .addColumn('redo_order_id', 'text', (c) => c.references('orders.id').onDelete('set null'))
    .addPrimaryKeyConstraint('shared_headshots_pk', ['organisation_id', 'headshot_id'])
    .execute();
  await db.schema
    .createIndex('shared_headshots_user')
    .on('shared_headshots')
    .columns(['user_id', 'organisation_id'])
    .execute();

  // Signed webhooks to the organisation's own systems: ids only in the payload, every attempt logged.
  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('organisation_id', 'text', (c) => c.notNull().references('organisations.id').onDelete('cascade'))
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('pending', 'delivered', 'failed')`))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz')
    .addColumn('last_status', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('delivered_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('webhook_deliveries_due')
    .on('webhook_deliveries')
    .columns(['status', 'next_attempt_at'])
    .execute();
  await db.schema
    .createIndex('webhook_deliveries_org')
    .on('webhook_deliveries')
    .columns(['organisation_id', 'created_at'])
    .execute();

  await db.schema.alterTable('orders').addColumn('backdrop', 'jsonb').execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('orders').dropColumn('backdrop').execute();
  for (const t of [
    'webhook_deliveries',
    'shared_headshots',
    'seat_credits',
    'seat_draws',
    'seat_purchases',
    'organisation_invitations',
    'organisation_consents',
    'organisation_members',
    'organisations',
  ]) {
    await db.schema.dropTable(t).execute();
  }
}

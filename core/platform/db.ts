import { Kysely, PostgresDialect, type ColumnType, type Generated, type Selectable } from 'kysely';
import pg from 'pg';

// bigint columns hold byte sizes well under 2^53: read them as numbers.
pg.types.setTypeParser(20, (v) => Number(v));

type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface PolicyVersionsTable {
  id: string;
  last_updated: ColumnType<Date, string, string>;
  published_at: Timestamp;
  significant: boolean;
  material: boolean;
  text: string;
}

export type Role = 'customer' | 'support' | 'privacy_officer' | 'admin';
export type UserStatus = 'active' | 'deleting' | 'deleted';

export interface UsersTable {
  id: string;
  email_hash: string;
  email_enc: string;
  name_enc: string;
  phone_enc: string | null;
  role: Generated<Role>;
  status: Generated<UserStatus>;
  adult_confirmed_at: Timestamp;
  policy_version_id: string;
  policy_accepted_at: Timestamp;
  created_at: Timestamp;
  last_used_at: Timestamp;
  email_pending_enc: ColumnType<string | null, string | null | undefined, string | null>;
  email_pending_hash: ColumnType<string | null, string | null | undefined, string | null>;
  email_pending_code_hash: ColumnType<string | null, string | null | undefined, string | null>;
  email_pending_expires_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  retention_warned_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  deletion_requested_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  deleted_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface SignInCodesTable {
  id: string;
  user_id: string;
  code_hash: string;
  attempts: Generated<number>;
  created_at: Timestamp;
  expires_at: Timestamp;
  consumed_at: Timestamp | null;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  token_hash: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  revoked_at: Timestamp | null;
}

export interface BlobsTable {
  id: string;
  user_id: string | null;
  bucket: string;
  object_key: string;
  dek: Buffer;
  kid: string;
  content_type: string;
  size_bytes: number;
  created_at: Timestamp;
}

/**
 * preparing: checked and stored, not yet oriented and stripped (worker/prepare.ts); never served.
 * analysing: prepared, its quality verdict being made (worker/handlers.ts). usable | unusable: the
 * verdict. rejected: could not be decoded at full size (corrupt_image); its bytes were dropped.
 */
export const PHOTO_STATUSES = ['preparing', 'analysing', 'usable', 'unusable', 'rejected'] as const;
export type PhotoStatus = (typeof PHOTO_STATUSES)[number];

export interface PhotosTable {
  id: string;
  user_id: string;
  blob_id: string;
  detected_type: string;
  size_bytes: number;
  width: number;
  height: number;
  uploaded_at: Timestamp;
  status: Generated<PhotoStatus>;
  verdict: ColumnType<unknown, string | null, string | null> | null;
  processed_at: Timestamp | null;
  /** 'self', or 'minor' with the uploader's attestation of parental authority (PH4). */
  subject: Generated<'self' | 'minor'>;
  parental_attestation_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** A small metadata-free JPEG the service made at preparation (encrypted like the original, deleted with it). */
  thumb_blob_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** The photo's render preparation (core/photos/render-ready.ts), made once it is judged usable; deleted with it. */
  prepared_blob_id: ColumnType<string | null, string | null | undefined, string | null>;
}

export type OrderStatus = 'awaiting_payment' | 'received' | 'processing' | 'ready' | 'failed';

export interface OrdersTable {
  id: string;
  user_id: string;
  package_id: string;
  styles: ColumnType<string[], string, string>;
  status: OrderStatus;
  amount_cents: number;
  currency: string;
  failure_code: string | null;
  failure_detail: string | null;
  created_at: Timestamp;
  paid_at: Timestamp | null;
  delivered_at: Timestamp | null;
  /** Headshots this order makes, as agreed before payment (null on orders made before it was recorded). */
  headshots_expected: ColumnType<number | null, number | null | undefined, number | null>;
  /** An organisation's backdrop the order is made with, in place of its styles' own (null: the styles'). */
  backdrop: ColumnType<BrandBackdrop | null, string | null | undefined, string | null>;
}

export interface OrderPhotosTable {
  order_id: string;
  photo_id: string;
  /** Left out by the person before paying: never rendered. */
  excluded: Generated<boolean>;
}

export type HeadshotStatus = 'pending' | 'rendered' | 'failed';

export interface HeadshotsTable {
  id: string;
  order_id: string;
  user_id: string;
  photo_id: string | null;
  style_id: string;
  status: Generated<HeadshotStatus>;
  blob_id: string | null;
  width: number | null;
  height: number | null;
  failure_code: string | null;
  created_at: Timestamp;
  rendered_at: Timestamp | null;
  delivered_at: Timestamp | null;
  /** 1-based place within its style (an order of 2 a style has positions 1 and 2). */
  position: ColumnType<number | null, number | null | undefined, number | null>;
  /** A failed headshot made again from the order's next photo: the one made in its place. */
  replaced_by: ColumnType<string | null, string | null | undefined, string | null>;
}

/** Money returned for headshots an order could not make: one refund an order, through the processor. */
export interface RefundsTable {
  id: string;
  order_id: string | null;
  payment_id: string;
  amount_cents: number;
  currency: string;
  headshots_missing: number;
  status: 'pending' | 'succeeded';
  processor_ref: string | null;
  created_at: Timestamp;
  succeeded_at: Timestamp | null;
}

export interface PaymentsTable {
  id: string;
  order_id: string | null;
  user_id: string | null;
  processor: string;
  processor_ref: string;
  amount_cents: number;
  currency: string;
  status: 'pending' | 'succeeded' | 'failed';
  created_at: Timestamp;
  succeeded_at: Timestamp | null;
  pseudonym: ColumnType<string | null, string | null | undefined, string | null>;
  pseudonymised_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface WebhookEventsTable {
  id: string;
  type: string;
  received_at: Timestamp;
}

export interface IdempotencyKeysTable {
  user_id: string;
  key: string;
  route: string;
  request_hash: string;
  status: number;
  body: ColumnType<unknown, string, string>;
  created_at: Timestamp;
}

export interface NotificationsTable {
  id: string;
  user_id: string | null;
  channel: 'email' | 'whatsapp';
  kind: string;
  dedupe_key: string;
  status: 'sending' | 'sent' | 'failed';
  provider_message_id: string | null;
  created_at: Timestamp;
  sent_at: Timestamp | null;
}

export type Purpose = 'marketing' | 'analytics' | 'service_improvement' | 'portfolio' | 'whatsapp';

export interface ConsentsTable {
  id: string;
  user_id: string;
  purpose: Purpose;
  granted: boolean;
  /** What recorded it: 'registration', 'settings', 'unsubscribe-link', 'restriction', 'objection', ... */
  source: string;
  recorded_at: Timestamp;
}

export interface CookieConsentsTable {
  id: string;
  visitor_id: string;
  user_id: string | null;
  preference: boolean;
  analytics: boolean;
  marketing: boolean;
  recorded_at: Timestamp;
}

export interface AnalyticsEventsTable {
  id: string;
  visitor_id: string;
  user_id: string | null;
  name: string;
  path: string | null;
  ip_truncated: string | null;
  browser: string | null;
  device: string | null;
  occurred_at: Timestamp;
}

export type RightsKind = 'access' | 'deletion' | 'correction' | 'restriction' | 'objection';
export type RightsStatus = 'open' | 'in_progress' | 'completed' | 'rejected';

export interface RightsRequestsTable {
  id: string;
  user_id: string | null;
  kind: RightsKind;
  status: RightsStatus;
  details: ColumnType<unknown, string | null | undefined, string | null>;
  result: ColumnType<unknown, string | null | undefined, string | null>;
  export_blob_id: ColumnType<string | null, string | null | undefined, string | null>;
  received_at: Timestamp;
  due_at: Timestamp;
  completed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  escalated_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface DeletionRecordsTable {
  id: string;
  /** The id of what was deleted (a user, photo, headshot...), never a name or an email. */
  subject_id: string;
  subject_kind: string;
  reason: string;
  rows_deleted: number;
  objects_deleted: number;
  details: ColumnType<unknown, string, string>;
  performed_at: Timestamp;
}

export interface AuditLogTable {
  id: Generated<string>;
  actor_id: string;
  actor_role: string;
  action: string;
  subject_user_id: string | null;
  resource: string;
  resource_id: string | null;
  at: Timestamp;
}

export interface BreachesTable {
  id: string;
  description: string;
  detected_at: Timestamp;
  notify_by: Timestamp;
  recorded_by: string;
  recorded_at: Timestamp;
  escalated_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  closed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface BreachNoticesTable {
  breach_id: string;
  user_id: string;
  /** 'unreachable': the account was deleted before its notice went out. */
  status: Generated<'pending' | 'notified' | 'unreachable'>;
  channels: ColumnType<unknown, string | null | undefined, string | null>;
  notified_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface InquiriesTable {
  id: string;
  user_id: string | null;
  kind: 'privacy' | 'support';
  subject_enc: string;
  body_enc: string;
  status: 'open' | 'answered' | 'resolved';
  received_at: Timestamp;
  first_response_due: Timestamp;
  resolution_due: Timestamp;
  first_responded_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  resolved_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  escalated_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface PortfolioItemsTable {
  id: string;
  headshot_id: string;
  user_id: string;
  style_id: string;
  published_at: Timestamp;
}

export interface MarketingCampaignsTable {
  id: string;
  subject: string;
  body: string;
  created_by: string | null;
  created_at: Timestamp;
  fanned_out_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export type OrganisationRole = 'owner' | 'admin' | 'member';
/** An organisation's own backdrop: one colour, or a two-colour gradient (top to bottom). */
export type BrandBackdrop =
  | { kind: 'solid'; rgb: [number, number, number] }
  | { kind: 'gradient'; top: [number, number, number]; bottom: [number, number, number] };
type Nullable<T> = ColumnType<T | null, T | null | undefined, T | null>;

export interface OrganisationsTable {
  id: string;
  name: string;
  billing_email_enc: string;
  /** The catalogue's styles the members may use; null is every style. */
  allowed_styles: ColumnType<string[] | null, string | null | undefined, string | null>;
  backdrop: ColumnType<BrandBackdrop | null, string | null | undefined, string | null>;
  logo_blob_id: Nullable<string>;
  webhook_url: Nullable<string>;
  webhook_secret_enc: Nullable<string>;
  reminder_days: Generated<number>;
  created_by: string | null;
  created_at: Timestamp;
}

export interface OrganisationMembersTable {
  organisation_id: string;
  user_id: string;
  role: OrganisationRole;
  invitation_id: string | null;
  joined_at: Timestamp;
}

export interface OrganisationConsentsTable {
  id: string;
  organisation_id: string;
  user_id: string;
  granted: boolean;
  source: string;
  recorded_at: Timestamp;
}

export interface OrganisationInvitationsTable {
  id: string;
  organisation_id: string;
  kind: 'email' | 'link';
  role: 'admin' | 'member';
  email_hash: string | null;
  email_enc: string | null;
  domain: string | null;
  max_uses: number | null;
  uses: Generated<number>;
  expires_at: Timestamp;
  revoked_at: Nullable<Date | string>;
  accepted_at: Nullable<Date | string>;
  accepted_by: Nullable<string>;
  created_by: string | null;
  created_at: Timestamp;
}

export interface SeatPurchasesTable {
  id: string;
  organisation_id: string | null;
  package_id: string;
  seats: number;
  amount_cents: number;
  currency: string;
  payment_id: string;
  status: 'pending' | 'paid';
  created_at: Timestamp;
  paid_at: Nullable<Date | string>;
  /** The organisation's credit taken off this purchase (amount_cents is what is left to pay). */
  credit_cents: ColumnType<number, number | undefined, number>;
}

export interface SeatDrawsTable {
  id: string;
  organisation_id: string;
  order_id: string | null;
  user_id: string | null;
  package_id: string;
  /** seat: drew one of the organisation's seats; redo: a reprocess the organisation asked for (no seat). */
  kind: 'seat' | 'redo';
  drawn_at: Timestamp;
  returned_at: Nullable<Date | string>;
}

export interface SeatCreditsTable {
  id: string;
  organisation_id: string;
  order_id: string | null;
  reason: 'missing_headshots' | 'shortfall';
  amount_cents: number;
  currency: string;
  headshots: number;
  created_at: Timestamp;
}

export type Review = 'pending' | 'approved' | 'redo_requested';

export interface SharedHeadshotsTable {
  organisation_id: string;
  headshot_id: string;
  user_id: string;
  shared_at: Timestamp;
  review: Generated<Review>;
  review_note: Nullable<string>;
  reviewed_by: Nullable<string>;
  reviewed_at: Nullable<Date | string>;
  redo_order_id: Nullable<string>;
}

export interface WebhookDeliveriesTable {
  id: string;
  organisation_id: string;
  event: string;
  payload: ColumnType<unknown, string, string>;
  status: 'pending' | 'delivered' | 'failed';
  attempts: Generated<number>;
  next_attempt_at: Nullable<Date | string>;
  last_status: Nullable<number>;
  last_error: Nullable<string>;
  created_at: Timestamp;
  delivered_at: Nullable<Date | string>;
}

export interface Database {
  policy_versions: PolicyVersionsTable;
  users: UsersTable;
  sign_in_codes: SignInCodesTable;
  sessions: SessionsTable;
  blobs: BlobsTable;
  photos: PhotosTable;
  orders: OrdersTable;
  order_photos: OrderPhotosTable;
  headshots: HeadshotsTable;
  payments: PaymentsTable;
  refunds: RefundsTable;
  webhook_events: WebhookEventsTable;
  idempotency_keys: IdempotencyKeysTable;
  notifications: NotificationsTable;
  consents: ConsentsTable;
  cookie_consents: CookieConsentsTable;
  analytics_events: AnalyticsEventsTable;
  rights_requests: RightsRequestsTable;
  deletion_records: DeletionRecordsTable;
  audit_log: AuditLogTable;
  breaches: BreachesTable;
  breach_notices: BreachNoticesTable;
  inquiries: InquiriesTable;
  portfolio_items: PortfolioItemsTable;
  marketing_campaigns: MarketingCampaignsTable;
  organisations: OrganisationsTable;
  organisation_members: OrganisationMembersTable;
  organisation_consents: OrganisationConsentsTable;
  organisation_invitations: OrganisationInvitationsTable;
  seat_purchases: SeatPurchasesTable;
  seat_draws: SeatDrawsTable;
  seat_credits: SeatCreditsTable;
  shared_headshots: SharedHeadshotsTable;
  webhook_deliveries: WebhookDeliveriesTable;
}

export type Db = Kysely<Database>;

/** Runs fn in the caller's transaction when there is one (Kysely does not nest them), else in a new one. */
export function inTransaction<T>(db: Db, fn: (trx: Db) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn);
}
export type User = Selectable<UsersTable>;
export type Photo = Selectable<PhotosTable>;
export type Order = Selectable<OrdersTable>;
export type Headshot = Selectable<HeadshotsTable>;
export type Blob = Selectable<BlobsTable>;
export type Refund = Selectable<RefundsTable>;

export function createDb(url: string, poolSize = 10): Db {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 5000 });
  // A dropped connection must not crash the process; the next query gets a fresh one.
  pool.on('error', () => {});
  // A checked-out client (in a transaction) that loses its connection emits 'error' on itself, not the
  // pool: without a listener that crashes the process; the query in flight still fails (issue 5, faults).
  pool.on('connect', (client) => client.on('error', () => {}));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** Creates the database named in url if it is missing (local mode and tests). */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (!rowCount) await client.query(`create database "${name.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}

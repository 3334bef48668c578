import { z } from 'zod';
import { PIPELINE_QUEUES } from './queues';

/**
 * The one place the environment is read. Local defaults let `npm start` and the demo run on a
 * developer machine with only Postgres and Redis; in production every secret must be set, and a
 * wrong or missing value stops start-up with a message that names the variable.
 */

const LOCAL_MASTER_KEY = `local:${'11'.repeat(32)}`;
const LOCAL_PII_KEY = `local:${'22'.repeat(32)}`;
const LOCAL_SECRET = 'local-development-secret-do-not-use-in-production';

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const int = (def: number) => z.coerce.number().int().nonnegative().default(def);
const days = (def: number) => z.coerce.number().positive().default(def);
/** A keyring: "id:hex64[,id:hex64...]". The first key encrypts; all of them decrypt. */
const keyring = z
  .string()
  .regex(
    /^[A-Za-z0-9_-]+:[0-9a-fA-F]{64}(,[A-Za-z0-9_-]+:[0-9a-fA-F]{64})*$/,
    'expected id:hex64[,id:hex64...] (32-byte keys)',
  );

const schema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PORT: int(3000),
  /** Where clients reach the API; used in emails and signed links. */
  PUBLIC_URL: z.string().url().default('http://localhost:3000'),
  /**
   * Where people use Rasmi: the web client every email links to (its screens are hash routes:
   * `#/order?id=...`). Unset outside production: the API's own `/app/`. Required in production.
   */
  APP_URL: z.string().url().optional(),

  DATABASE_URL: z.string().url().default('postgres://root@127.0.0.1:5432/rasmi'),
  DATABASE_POOL_SIZE: int(10),
  /** `redis://` or `rediss://` (TLS), with an ACL user and password and a database index if any: `rediss://user:pass@host:6380/2`. */
  REDIS_URL: z
    .string()
    .url()
    .default('redis://127.0.0.1:6379')
    .refine(
      (s) => URL.canParse(s) && /^rediss?:$/.test(new URL(s).protocol) && /^\/?(\d+)?$/.test(new URL(s).pathname),
      'expected redis:// or rediss://, optionally with user:password@ and a database index such as /2',
    ),
  /** PEM file of the CA that signed the Redis server's certificate (`rediss://` only); unset: Node's public CAs (and `NODE_EXTRA_CA_CERTS`). */
  REDIS_TLS_CA_FILE: z.string().min(1).optional(),
  /**
   * Key prefix for every BullMQ key and rate-limit counter, so several deployments (or test files)
   * share one Redis. In braces it is a Redis Cluster hash tag: every key lands in one slot, which
   * BullMQ's multi-key scripts need on a cluster.
   */
  QUEUE_PREFIX: z.string().min(1).default('{rasmi}'),

  /** S3 endpoint (MinIO in production). Unset in local mode: an in-process S3 server is started. */
  S3_ENDPOINT: z.string().url().optional(),
  S3_ACCESS_KEY: z.string().default('S3RVER'),
  S3_SECRET_KEY: z.string().default('S3RVER'),
  S3_REGION: z.string().default('us-east-1'),
  S3_BUCKET_ORIGINALS: z.string().default('rasmi-originals'),
  S3_BUCKET_HEADSHOTS: z.string().default('rasmi-headshots'),
  LOCAL_S3_DIR: z.string().default('.data/s3'),

  /** Wraps the per-object data keys of photos (SC1). */
  MASTER_KEYS: keyring.default(LOCAL_MASTER_KEY),
  /** Encrypts email, name and phone in the database (SC2). */
  PII_KEYS: keyring.default(LOCAL_PII_KEY),
  /** Keys the HMAC of normalised emails used for look-up and uniqueness; never rotated in place. */
  PII_HASH_KEY: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex characters')
    .default('33'.repeat(32)),
  /** Signs download links (SC5). */
  LINK_SECRET: z.string().min(32).default(LOCAL_SECRET),

  UPLOAD_MAX_BYTES: int(25 * 1024 * 1024),
  UPLOAD_MAX_PIXELS: int(50_000_000),
  UPLOAD_MAX_FILES_PER_USER: int(50),
  /** `start:api` runs this many API processes sharing the port (node:cluster); 1 runs the API in the process itself. */
  API_PROCESSES: z.coerce.number().int().min(1).max(64).default(1),
  /** Uploads read and decoded at once per API process; the rest wait unread (bounded memory). */
  UPLOAD_CONCURRENCY: z.coerce.number().int().min(1).default(2),
  /** Abuse limits (SC4): requests per window. */
  RATE_LIMIT_SIGN_IN: int(10),
  RATE_LIMIT_SIGN_IN_WINDOW_SECONDS: int(15 * 60),
  RATE_LIMIT_UPLOADS: int(60),
  RATE_LIMIT_UPLOADS_WINDOW_SECONDS: int(3600),
  RATE_LIMIT_RIGHTS: int(10),
  RATE_LIMIT_RIGHTS_WINDOW_SECONDS: int(24 * 3600),

  SESSION_TTL_HOURS: z.coerce
    .number()
    .positive()
    .default(24 * 30),
  SIGN_IN_CODE_TTL_MINUTES: z.coerce.number().positive().default(15),
  DOWNLOAD_LINK_TTL_SECONDS: z.coerce.number().int().positive().max(900).default(300),

  /** local: confirms payments itself by calling our own webhook (development and tests only). */
  PAYMENT_PROCESSOR: z.enum(['local', 'stripe']).default('local'),
  PAYMENT_WEBHOOK_SECRET: z.string().min(16).default('whsec_local_development_only'),
  PAYMENT_WEBHOOK_TOLERANCE_SECONDS: int(300),
  /** The local processor confirms each payment itself; false leaves that to a test or a person. */
  LOCAL_PAYMENT_AUTO_CONFIRM: bool.default(true),
  STRIPE_SECRET_KEY: z.string().optional(),
  /** Stripe API base; unset uses Stripe's. Tests point it at a local server speaking Stripe's API. */
  STRIPE_API_URL: z.string().url().optional(),

  /** Postmark server token; unset means mail goes to the local outbox folder. */
  POSTMARK_TOKEN: z.string().optional(),
  /** Postmark API base, overridable so tests talk to a local server that speaks its API. */
  POSTMARK_API_URL: z.string().url().default('https://api.postmarkapp.com'),
  /** Postmark message streams: order and account mail, and marketing (which Postmark keeps apart). */
  POSTMARK_MESSAGE_STREAM: z.string().min(1).default('outbound'),
  POSTMARK_BROADCAST_STREAM: z.string().min(1).default('broadcast'),
  MAIL_FROM: z.string().default('Rasmi <headshots@rasmi.com>'),
  MAIL_OUTBOX_DIR: z.string().default('.data/outbox'),

  /** WhatsApp Business Cloud API (SD4); no token means WhatsApp notifications are off. */
  WHATSAPP_API_URL: z.string().url().default('https://graph.facebook.com/v21.0'),
  WHATSAPP_TOKEN: z.string().optional(),
  WHATSAPP_PHONE_NUMBER_ID: z.string().regex(/^\d+$/, 'expected the numeric phone number id').optional(),
  /** An approved template with one body parameter; unset sends plain text (only inside the 24-hour window). */
  WHATSAPP_TEMPLATE_NAME: z.string().optional(),
  WHATSAPP_TEMPLATE_LANGUAGE: z.string().default('en_US'),

  /** Execution providers in order of preference; cpu is always the last resort. */
  ONNX_PROVIDERS: z
    .string()
    .default('cpu')
    .transform((s) =>
      s
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean),
    ),
  /**
   * Person matting: `selfie` (MediaPipe Selfie Segmentation, Apache-2.0, the default) or `isnet`
   * (finer at hair, about 1 s a photo on 2 CPU cores; AGPL-3.0, so operator-installed only: `npm run models:isnet`).
   */
  MATTING_MODEL: z.enum(['selfie', 'isnet']).default('selfie'),
  /** The ISNet ONNX file for MATTING_MODEL=isnet; relative to the project root. Checked against models/registry.ts. */
  ISNET_MODEL_PATH: z.string().min(1).default('models/onnx/isnet-medium.onnx'),
  PREPARE_CONCURRENCY: int(2),
  ANALYSIS_CONCURRENCY: int(2),
  RENDER_CONCURRENCY: int(1),
  /**
   * Pipeline queues this worker process takes, comma-separated; empty: all of them. Lets GPU
   * workers take analysis and rendering while CPU workers take the rest (deploy/kubernetes).
   */
  WORKER_QUEUES: z
    .string()
    .default('')
    .transform((s) =>
      s
        .split(',')
        .map((q) => q.trim())
        .filter(Boolean),
    )
    .refine(
      (list) => list.every((q) => (PIPELINE_QUEUES as readonly string[]).includes(q)),
      `expected a comma-separated subset of ${PIPELINE_QUEUES.join(', ')}`,
    ),
  /** Threads per worker process for decoding, inference and pixel work. */
  PIXEL_THREADS: z.coerce.number().int().min(1).max(16).default(2),
  DELIVERY_CONCURRENCY: int(5),
  PRIVACY_CONCURRENCY: int(4),
  SWEEP_CONCURRENCY: int(1),
  /** How often the scheduler checks that its job schedulers are still in Redis (re-registers missing ones). */
  SCHEDULER_CHECK_SECONDS: int(60),
  /** Finished jobs are removed by age so job data never outlives what it mentions (RT6). */
  JOB_KEEP_COMPLETED_SECONDS: int(24 * 3600),
  JOB_KEEP_FAILED_SECONDS: int(7 * 24 * 3600),
  /** Backoff doubles from 2 s with jitter: 7 attempts wait 63-126 s in all, riding out a minute's outage (S3, Postgres, a mail API); the stalled-work sweep re-drives longer ones. */
  JOB_ATTEMPTS: int(7),
  /** BullMQ lock on an active job; a job whose worker died is taken up again once it lapses (BullMQ's defaults). */
  WORKER_LOCK_MS: int(30_000),
  WORKER_STALLED_INTERVAL_MS: int(30_000),

  /** Retention periods, as the privacy policy states them (§7). */
  RETENTION_ORIGINALS_DAYS: days(30),
  RETENTION_HEADSHOTS_DAYS: days(90),
  RETENTION_PERSONAL_DATA_DAYS: days(365),
  RETENTION_TRANSACTIONS_DAYS: days(7 * 365),
  /** Days before personal-data deletion that the person is warned and can keep the account by signing in. */
  RETENTION_WARNING_DAYS: days(30),
  /** Rows per batch for retention sweeps and the jobs they fan out. */
  RETENTION_BATCH: z.coerce.number().int().min(1).max(500).default(500),
  /** Usage data (analytics events, anonymous cookie choices) is kept this long (RT6); the policy names no number. */
  USAGE_DATA_RETENTION_DAYS: days(90),

  HEADSHOT_SIZE: int(1024),
  /** Quality verdict thresholds (SD1). */
  FACE_PRESENCE_MIN: z.coerce.number().min(0).max(1).default(0.5),
  MAX_HEAD_TURN_DEGREES: z.coerce.number().positive().default(40),
  EYES_CLOSED_BELOW: z.coerce.number().min(0).default(0.2),
  /**
   * Face-true check: largest displacement of a facial feature between the photo and the render
   * allowed, as a fraction of the inter-ocular distance. Between the measure's noise on unchanged
   * renders of real photos and the smallest deliberate 5 % change (docs/performance.md, "Face-true check",
   * `npm run bench:face-true`), and never looser than 5 %. Any positive value: a test sets it very
   * low to make every render fail.
   */
  FACE_TRUE_TOLERANCE: z.coerce.number().positive().max(0.05).default(0.015),
  /** Breaches (BR1): every affected person is notified within this many hours of detection (§8). */
  BREACH_NOTICE_HOURS: z.coerce.number().positive().default(72),
  /** Still-pending notices this many hours after detection alert the privacy team, before the deadline passes. */
  BREACH_ESCALATE_HOURS: z.coerce.number().positive().default(48),
  /** Rows per statement when recording a breach's notices and per page when a sweep fans them out. */
  BREACH_NOTICE_BATCH: z.coerce.number().int().min(1).max(5000).default(1000),
  /** Policy change notices (PO2): at most this many people are emailed per sweep run (a rate limit). */
  POLICY_NOTICE_BATCH: z.coerce.number().int().min(1).default(500),
  /** Inquiries (CT1): a first answer within this many business hours (Monday to Friday, UTC). */
  INQUIRY_FIRST_RESPONSE_BUSINESS_HOURS: z.coerce.number().positive().default(24),
  /** Inquiries are resolved within this many days at most. */
  INQUIRY_RESOLUTION_DAYS: days(30),
  /** The team is alerted this many hours before an inquiry deadline that is still unmet. */
  INQUIRY_ESCALATE_BEFORE_HOURS: z.coerce.number().nonnegative().default(4),
  /** Rights requests (RG6): answered within this many days of receipt (§6). */
  RIGHTS_DEADLINE_DAYS: days(30),
  /** An open rights request this many days old is escalated to the privacy team, before its deadline. */
  RIGHTS_ESCALATE_AFTER_DAYS: days(20),
  /** A data export (RG1) stays downloadable this long, then a sweep deletes it. */
  EXPORT_RETENTION_DAYS: days(7),
  /** How long the code mailed to a new email address works (AC4). */
  EMAIL_CHANGE_CODE_TTL_MINUTES: z.coerce.number().positive().default(30),
  /** Where escalations go: breach deadlines, inquiry deadlines, rights requests. */
  PRIVACY_TEAM_EMAIL: z.email().default('privacy@rasmi.com'),
  RUN_MIGRATIONS: bool.optional(),
  /**
   * Bearer token for GET /metrics (Prometheus). Unset: /metrics answers 404 in production and is
   * open elsewhere (local development).
   */
  METRICS_TOKEN: z
    .string()
    .regex(/^[A-Za-z0-9._~+/=-]{24,200}$/, 'expected 24 to 200 token characters')
    .optional(),
  /** Worker and scheduler roles serve /metrics on this port (0: off); the API serves it on PORT. */
  METRICS_PORT: int(0),
  /**
   * Seconds a client gets to send a whole request (and its headers): a slow or stalled upload is cut
   * off instead of holding a connection for Node's default 300 s.
   */
  HTTP_REQUEST_TIMEOUT_SECONDS: z.coerce.number().int().positive().default(60),
  /** Origins allowed to call the API from a browser, comma-separated ("https://app.example.com"); empty: none. */
  CORS_ORIGINS: z
    .string()
    .default('')
    .transform((s) =>
      s
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    )
    .refine(
      (list) => list.every((o) => URL.canParse(o) && new URL(o).origin === o),
      'expected origins like https://app.example.com (scheme, host, optional port; no path)',
    ),
});

export type Config = z.infer<typeof schema>;

const SECRETS = ['MASTER_KEYS', 'PII_KEYS', 'PII_HASH_KEY', 'LINK_SECRET', 'PAYMENT_WEBHOOK_SECRET'] as const;

export class ConfigError extends Error {}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const config = parsed.data;
  if (config.REDIS_TLS_CA_FILE && !config.REDIS_URL.startsWith('rediss:'))
    throw new ConfigError('Invalid configuration:\n  REDIS_TLS_CA_FILE: set, but REDIS_URL is not rediss:// (TLS)');
  // Each process would start its own in-process S3 server on the same folder.
  if (config.API_PROCESSES > 1 && !config.S3_ENDPOINT)
    throw new ConfigError(
      'Invalid configuration:\n  API_PROCESSES: more than 1 needs S3_ENDPOINT (the in-process S3 server is for one process)',
    );
  if (config.NODE_ENV === 'production') {
    const problems: string[] = [];
    for (const name of SECRETS) {
      if (!env[name]) problems.push(`  ${name}: must be set in production`);
      else if (env[name] === String(schema.shape[name].parse(undefined)))
        problems.push(`  ${name}: the local development value cannot be used in production`);
    }
    if (!env.DATABASE_URL) problems.push('  DATABASE_URL: must be set in production');
    if (!env.REDIS_URL) problems.push('  REDIS_URL: must be set in production');
    if (!config.S3_ENDPOINT)
      problems.push('  S3_ENDPOINT: must be set in production (the in-process S3 server is for local use)');
    if (config.PAYMENT_PROCESSOR === 'local')
      problems.push('  PAYMENT_PROCESSOR: the local processor refuses to run in production');
    if (config.PAYMENT_PROCESSOR === 'stripe' && !config.STRIPE_SECRET_KEY)
      problems.push('  STRIPE_SECRET_KEY: required when PAYMENT_PROCESSOR=stripe');
    if (!config.APP_URL) problems.push('  APP_URL: must be set in production (the web client that emails link to)');
    if (!config.POSTMARK_TOKEN)
      problems.push('  POSTMARK_TOKEN: must be set in production (the local outbox is for development)');
    if (problems.length) throw new ConfigError(`Invalid configuration:\n${problems.join('\n')}`);
  }
  return config;
}

export const DAY_MS = 24 * 3600 * 1000;

/** Every setting's name, for documentation checks. */
export const CONFIG_KEYS: readonly string[] = Object.keys(schema.shape);

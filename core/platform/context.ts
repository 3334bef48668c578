import { Redis } from 'ioredis';
import { type Clock, systemClock } from './clock';
import type { Config } from './config';
import { parseKeyring, type Keyring } from './crypto';
import { createDb, ensureDatabase, type Db } from './db';
import { Queues } from './jobs';
import { redisOptions } from './redis';
import { startLocalS3 } from './local-s3';
import { createLogger, type Logger } from './logger';
import { createMailer, type Mailer } from './mail';
import { migrateToLatest } from './migrate';
import { createProcessor, LocalProcessor, type PaymentProcessor } from './payment-processor';
import { Storage } from './storage';

/** Everything a role needs, built once at start and closed once at shutdown. */
export interface AppContext {
  config: Config;
  clock: Clock;
  logger: Logger;
  db: Db;
  storage: Storage;
  queues: Queues;
  /** For the API's own counters (rate limits); BullMQ keeps its own connections. */
  redis: Redis;
  mailer: Mailer;
  payments: PaymentProcessor;
  pii: Keyring;
  /** Where the API listens, once it does; the local processor posts its webhooks there. */
  publicUrl: string;
  /** Aborted when the role begins to shut down: long-lived responses (event streams) end then. */
  shutdown: AbortController;
  close(): Promise<void>;
}

export interface ContextOptions {
  clock?: Clock;
  logger?: Logger;
  mailer?: Mailer;
  migrate?: boolean;
}

export async function createContext(config: Config, opts: ContextOptions = {}): Promise<AppContext> {
  const logger = opts.logger ?? createLogger(config.LOG_LEVEL);
  const clock = opts.clock ?? systemClock;
  const closers: (() => Promise<void> | void)[] = [];

  const migrate = opts.migrate ?? config.RUN_MIGRATIONS ?? config.NODE_ENV !== 'production';
  if (migrate) await ensureDatabase(config.DATABASE_URL);
  const db = createDb(config.DATABASE_URL, config.DATABASE_POOL_SIZE);
  closers.push(() => db.destroy());
  if (migrate) {
    const applied = await migrateToLatest(db);
    if (applied.length) logger.info({ applied }, 'migrations applied');
  }

  let endpoint = config.S3_ENDPOINT;
  if (!endpoint) {
    const local = await startLocalS3(config.LOCAL_S3_DIR);
    endpoint = local.endpoint;
    closers.push(local.close);
    logger.info({ endpoint, directory: config.LOCAL_S3_DIR }, 'no S3_ENDPOINT set: started the in-process S3 server');
  }
  const storage = new Storage({ ...config, endpoint }, parseKeyring(config.MASTER_KEYS));
  await storage.ensureBuckets();

  const queues = new Queues(config);
  closers.push(() => queues.close());
  const redis = new Redis({ ...redisOptions(config), maxRetriesPerRequest: 1, lazyConnect: true });
  // A Redis restart is a logged blip, not an unhandled error event (issue 5, faults).
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  closers.push(() => void redis.disconnect());

  const ctx: AppContext = {
    config,
    clock,
    logger,
    db,
    storage,
    queues,
    redis,
    mailer: opts.mailer ?? createMailer(config),
    payments: undefined as unknown as PaymentProcessor,
    pii: parseKeyring(config.PII_KEYS),
    publicUrl: config.PUBLIC_URL,
    shutdown: new AbortController(),
    async close() {
      ctx.shutdown.abort();
      if (ctx.payments instanceof LocalProcessor) ctx.payments.close();
      for (const close of closers.reverse()) await close();
    },
  };
  ctx.payments = createProcessor(
    config,
    () => `${ctx.publicUrl}/v1/payments/webhook`,
    () => clock.now(),
  );
  return ctx;
}

/**
 * Key rotation (npm run keys:rotate [-- --dry-run] [--only=master|pii] [--batch=500]).
 *
 * 1. Put the new key first in MASTER_KEYS and/or PII_KEYS, keep the old one after it
 *    ("new:<hex64>,old:<hex64>"), and deploy that to every role.
 * 2. Run this once with the same environment. It re-wraps object data keys and re-encrypts PII
 *    fields still under an old key, in batches; it can be interrupted and run again.
 * 3. When it prints remaining 0 (exit code 0), remove the old key from the keyring and deploy.
 * Exit code 1: something still uses an old key, or could not be decrypted with the keyring.
 * Only Postgres is touched; objects in the bucket are not re-uploaded.
 */
import { loadConfig } from '../core/platform/config';
import { createDb } from '../core/platform/db';
import { rotateKeys } from '../core/platform/key-rotation';
import { createLogger } from '../core/platform/logger';

const args = process.argv.slice(2);
const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const only = flag('only');
if (only !== undefined && only !== 'master' && only !== 'pii') {
  console.error('--only must be master or pii');
  process.exit(2);
}
const batch = Number(flag('batch') ?? 500);
if (!Number.isInteger(batch) || batch < 1 || batch > 10_000) {
  console.error('--batch must be an integer from 1 to 10000');
  process.exit(2);
}

const config = loadConfig();
const db = createDb(config.DATABASE_URL, 2);
try {
  const report = await rotateKeys(
    { db, config, logger: createLogger(config.LOG_LEVEL) },
    { dryRun: args.includes('--dry-run'), only, batch },
  );
  console.log(JSON.stringify(report, null, 2));
  const parts = [report.master, report.pii].filter((p) => p !== undefined);
  process.exitCode = parts.some((p) => p.failed > 0 || (!report.dryRun && p.remaining > 0)) ? 1 : 0;
} finally {
  await db.destroy();
}

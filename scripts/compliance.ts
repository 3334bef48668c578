/**
 * Prints, per privacy promise with a deadline, how many items are overdue (npm run compliance).
 * Exits 1 when anything is, so it can run as a monitoring check.
 */
import { loadConfig } from '../core/platform/config';
import { complianceReport } from '../core/privacy/compliance';
import { createContext } from '../core/platform/context';
import { createLogger } from '../core/platform/logger';

const config = loadConfig();
const ctx = await createContext(config, { logger: createLogger('warn'), migrate: false });
try {
  const rows = await complianceReport(ctx);
  const width = Math.max(...rows.map((r) => r.deadline.length));
  for (const r of rows)
    console.log(`${r.promise.padEnd(4)} ${r.deadline.padEnd(width)}  ${String(r.overdue).padStart(7)} overdue`);
  process.exitCode = rows.some((r) => r.overdue > 0) ? 1 : 0;
} finally {
  await ctx.close();
}

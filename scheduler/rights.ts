import type { HandlersFor } from '../core/platform/workers';
import { deleteExpiredExports, sweepRightsDeadlines } from '../core/privacy/rights';
import { recordSweep } from '../core/platform/metrics';

/**
 * Rights-request sweeps (RG6, RG1). Deadlines live in Postgres; each run takes a batch of what is
 * due, and every step is idempotent (dedupe keys, fixed job ids, conditional updates).
 */
export const rightsSweeps: Pick<HandlersFor<'sweeps'>, 'sweep.rights-deadlines' | 'sweep.rights-exports'> = {
  'sweep.rights-deadlines': async (ctx) => {
    const r = await sweepRightsDeadlines(ctx);
    recordSweep('rights-deadlines', r);
    if (r.escalated || r.redriven) ctx.logger.info({ sweep: 'rights-deadlines', ...r }, 'rights deadlines swept');
  },
  'sweep.rights-exports': async (ctx) => {
    const n = await deleteExpiredExports(ctx);
    recordSweep('rights-exports', { deleted: n });
    if (n) ctx.logger.info({ sweep: 'rights-exports', deleted: n }, 'expired exports deleted');
  },
};

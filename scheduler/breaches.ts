import { sweepBreachNotices } from '../core/privacy/breaches';
import type { HandlersFor } from '../core/platform/workers';
import { recordSweep } from '../core/platform/metrics';

/** BR1: every minute, so a new breach's notices go out at once and the 48-hour escalation is on time. */
export const breachSweeps: Pick<HandlersFor<'sweeps'>, 'sweep.breach-notices'> = {
  'sweep.breach-notices': async (ctx) => {
    const r = await sweepBreachNotices(ctx);
    recordSweep('breach-notices', r);
    if (r.fannedOut || r.escalated) ctx.logger.info({ sweep: 'breach-notices', ...r }, 'breach notices fanned out');
  },
};

import type { HandlersFor } from '../core/platform/workers';
import { recordSweep } from '../core/platform/metrics';
import { sweepPolicyNotices } from '../core/privacy/policy-notices';

/** PO2: each run emails at most POLICY_NOTICE_BATCH people about the newest significant change. */
export const policyNoticeSweeps: Pick<HandlersFor<'sweeps'>, 'sweep.policy-notices'> = {
  'sweep.policy-notices': async (ctx) => {
    const r = await sweepPolicyNotices(ctx);
    recordSweep('policy-notices', r);
    if (r.fannedOut) ctx.logger.info({ sweep: 'policy-notices', ...r }, 'policy notices fanned out');
  },
};

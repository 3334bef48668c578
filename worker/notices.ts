import { notifyBreachNotice } from '../core/privacy/breaches';
import type { HandlersFor } from '../core/platform/workers';
import { notifyPolicyChange } from '../core/privacy/policy-notices';

/** Per-person notices fanned out by the breach (BR1) and policy (PO2) sweeps; each sends at most once. */
export const noticeHandlers: Pick<HandlersFor<'privacy'>, 'breach.notify' | 'policy.notify'> = {
  'breach.notify': async (ctx, { breachId, userId }) => notifyBreachNotice(ctx, breachId, userId),
  'policy.notify': async (ctx, { versionId, userId }) => notifyPolicyChange(ctx, versionId, userId),
};

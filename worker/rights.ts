import type { HandlersFor } from '../core/platform/workers';
import { carryOutAccessRequest, carryOutDeletionRequest } from '../core/privacy/rights';

/** The 'privacy' jobs of rights requests; both idempotent on retry (core/privacy/rights.ts). */
export const rightsHandlers: Pick<HandlersFor<'privacy'>, 'rights.export' | 'rights.delete'> = {
  'rights.export': (ctx, { requestId }) => carryOutAccessRequest(ctx, requestId),
  'rights.delete': (ctx, { requestId }) => carryOutDeletionRequest(ctx, requestId),
};

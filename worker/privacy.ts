import type { HandlersFor } from '../core/jobs';

/**
 * Handlers of the 'privacy' queue: the per-item jobs that sweeps and rights requests fan out.
 * Each area keeps its handlers in its own module and adds them here.
 */
export const privacyHandlers: HandlersFor<'privacy'> = {};

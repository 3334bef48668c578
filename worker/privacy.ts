import type { HandlersFor } from '../core/platform/workers';
import { retentionHandlers } from './retention';
import { consentHandlers } from './consent';
import { rightsHandlers } from './rights';
import { noticeHandlers } from './notices';

/**
 * Handlers of the 'privacy' queue: the per-item jobs that sweeps and rights requests fan out.
 * Each area keeps its handlers in its own module and adds them here.
 */
export const privacyHandlers: HandlersFor<'privacy'> = {
  ...retentionHandlers,
  ...consentHandlers,
  ...rightsHandlers,
  ...noticeHandlers,
};

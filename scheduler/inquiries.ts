import { sweepInquiryDeadlines } from '../core/privacy/inquiries';
import type { HandlersFor } from '../core/platform/workers';
import { recordSweep } from '../core/platform/metrics';

/** CT1: the team hears of an inquiry deadline INQUIRY_ESCALATE_BEFORE_HOURS before it passes. */
export const inquirySweeps: Pick<HandlersFor<'sweeps'>, 'sweep.inquiry-deadlines'> = {
  'sweep.inquiry-deadlines': async (ctx) => {
    const r = await sweepInquiryDeadlines(ctx);
    recordSweep('inquiry-deadlines', r);
    if (r.firstResponse || r.resolution)
      ctx.logger.info({ sweep: 'inquiry-deadlines', ...r }, 'inquiry deadlines escalated');
  },
};

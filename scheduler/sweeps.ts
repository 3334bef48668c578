import { sql } from 'kysely';
import type { HandlersFor } from '../core/jobs';
import { resumeOrder } from '../core/orders';

/** How long a paid order may sit without finishing before its jobs are re-driven. */
export const STALLED_AFTER_MINUTES = 10;
const BATCH = 500;

/** Sweeps find due work in Postgres in batches (practice 5): nothing depends on a delayed job. */
export const sweepHandlers: HandlersFor<'sweeps'> = {
  'sweep.stalled-orders': async (ctx) => {
    const cutoff = new Date(ctx.clock.now().getTime() - STALLED_AFTER_MINUTES * 60_000);
    const stalled = await ctx.db
      .selectFrom('orders')
      .select('id')
      .where('status', 'in', ['received', 'processing'])
      .where(sql<boolean>`coalesce(paid_at, created_at) < ${cutoff}`)
      .orderBy('paid_at')
      .limit(BATCH)
      .execute();
    for (const o of stalled) await resumeOrder(ctx, o.id);
    if (stalled.length) ctx.logger.info({ sweep: 'stalled-orders', count: stalled.length }, 'sweep re-drove orders');
  },
};

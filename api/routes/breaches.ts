import type { Router } from 'express';
import { breachWithProgress, recordBreach, unknownUserIds, type Affected } from '../../core/privacy/breaches';
import type { AppContext } from '../../core/platform/context';
import { ctxOf } from '../auth';
import { z } from '../openapi';
import { HttpError } from '../problem';
import { route } from '../route';
import { IdParam, idOf, iso } from '../schemas';

/** Breaches (BR1): the privacy officer records one; the scheduler does the notifying. */

const userId = idOf('usr', 'user');
const RecordBreach = z
  .object({
    description: z
      .string()
      .trim()
      .min(1)
      .max(5000)
      .openapi({ description: 'What happened, in words the affected people will read in their notice' }),
    detected_at: z.iso.datetime({ offset: true }).openapi({
      description: 'When the breach was detected; the 72-hour deadline counts from here. Not in the future.',
    }),
    affected: z
      .union([
        // Explicit lists are bounded by the 100 kB body limit; larger sets use a selector.
        z.object({ user_ids: z.array(userId).min(1).max(2500) }).strict(),
        z.object({ all_users: z.literal(true) }).strict(),
        z
          .object({
            orders_created_between: z
              .object({ from: z.iso.datetime({ offset: true }), to: z.iso.datetime({ offset: true }) })
              .strict(),
          })
          .strict(),
      ])
      .openapi({
        description:
          'Who is affected: listed accounts, every account, or everyone with an order created in a time range (inclusive)',
      }),
  })
  .openapi('RecordBreach');

const BreachOut = z
  .object({
    id: z.string(),
    description: z.string(),
    detected_at: z.string().datetime(),
    notify_by: z.string().datetime(),
    recorded_at: z.string().datetime(),
    recorded_by: z.string(),
    escalated_at: z.string().datetime().nullable(),
    affected: z.number().int(),
    notified: z.number().int(),
    pending: z.number().int(),
    unreachable: z.number().int().openapi({ description: 'Accounts deleted before their notice went out' }),
    overdue: z.number().int().openapi({ description: 'Still pending past notify_by' }),
    notified_late: z.number().int().openapi({ description: 'Notified, but after notify_by' }),
  })
  .openapi('Breach');

async function breachOut(ctx: AppContext, id: string): Promise<z.infer<typeof BreachOut> | undefined> {
  const found = await breachWithProgress(ctx, id);
  if (!found) return undefined;
  const { breach: b, progress } = found;
  return {
    id: b.id,
    description: b.description,
    detected_at: iso(b.detected_at)!,
    notify_by: iso(b.notify_by)!,
    recorded_at: iso(b.recorded_at)!,
    recorded_by: b.recorded_by,
    escalated_at: iso(b.escalated_at),
    ...progress,
  };
}

export function breachRoutes(router: Router): void {
  route(
    router,
    {
      method: 'post',
      path: '/v1/staff/breaches',
      operationId: 'recordBreach',
      summary: 'Record a breach; every affected person is notified within 72 hours of detection',
      tags: ['Staff', 'Breaches'],
      auth: 'privacy_officer',
      body: RecordBreach,
      responses: { 201: { description: 'Recorded with one pending notice per affected person', schema: BreachOut } },
      errors: { 422: 'detected_in_future, unknown_users, empty_range' },
    },
    async (req, res, { user, body }) => {
      const ctx = ctxOf(req);
      const detectedAt = new Date(body.detected_at);
      if (detectedAt.getTime() > ctx.clock.now().getTime())
        throw new HttpError(
          422,
          'detected_in_future',
          'Detection time is in the future',
          'detected_at must be now or earlier.',
        );
      let affected: Affected;
      if ('user_ids' in body.affected) {
        const unknown = await unknownUserIds(ctx, [...new Set(body.affected.user_ids)]);
        if (unknown.length)
          throw new HttpError(
            422,
            'unknown_users',
            'Unknown users',
            `${unknown.length} of the listed ids name no account.`,
            { unknown_user_ids: unknown.slice(0, 50) },
          );
        affected = body.affected;
      } else if ('all_users' in body.affected) {
        affected = { all_users: true };
      } else {
        const from = new Date(body.affected.orders_created_between.from);
        const to = new Date(body.affected.orders_created_between.to);
        if (from > to)
          throw new HttpError(
            422,
            'empty_range',
            'Empty time range',
            'orders_created_between.from must not be after its to.',
          );
        affected = { orders_created_between: { from, to } };
      }
      const { id } = await recordBreach(ctx, {
        description: body.description,
        detectedAt,
        affected,
        recordedBy: user.id,
      });
      // The sweep runs every minute; starting it now saves that minute.
      await ctx.queues.enqueue('sweep.breach-notices', {}, { jobId: `breach-recorded-${id}` });
      res.status(201).json(await breachOut(ctx, id));
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/staff/breaches/:id',
      operationId: 'getBreach',
      summary: 'Notification progress of a breach',
      tags: ['Staff', 'Breaches'],
      auth: 'privacy_officer',
      params: IdParam('brc', 'breach'),
      responses: { 200: { description: 'Breach and its notices, counted', schema: BreachOut } },
      errors: { 404: 'not_found' },
    },
    async (req, res, { params }) => {
      const out = await breachOut(ctxOf(req), params.id);
      if (!out) throw new HttpError(404, 'not_found', 'Breach not found', 'No breach with that id.');
      res.json(out);
    },
  );
}

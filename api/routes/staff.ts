import type { Router } from 'express';
import { userForStaff, userOrdersForStaff } from '../../core/accounts/staff-reads';
import { auditLogPage } from '../../core/privacy/audit';
import { ctxOf } from '../auth';
import { z } from '../openapi';
import { route } from '../route';
import { Cursor, IdParam, idOf, iso, OrderOut, page } from '../schemas';
import { me, Me } from '../account-out';
import { orderOut } from '../order-out';

/**
 * Staff reads of a person's data (SC3). Access is by role (support and up); every read that
 * returns a person's data first writes an append-only audit row with ids only.
 */

/** What support sees: the person's own profile, plus status, last use and counts. */
const StaffUser = Me.extend({
  status: z.string(),
  last_used_at: z.string().datetime(),
  counts: z.object({ photos: z.number().int(), orders: z.number().int() }),
}).openapi('StaffUserView');

const AuditEntry = z
  .object({
    id: z.string(),
    actor_id: z.string(),
    actor_role: z.string(),
    action: z.string(),
    subject_user_id: z.string().nullable(),
    resource: z.string(),
    resource_id: z.string().nullable(),
    at: z.string().datetime(),
  })
  .openapi('AuditEntry');

const UserId = IdParam('usr', 'user');

const AuditQuery = Cursor(z.string().regex(/^\d{1,19}$/)).extend({
  subject_user_id: idOf('usr', 'user').optional(),
  actor_id: idOf('usr', 'user').optional(),
});

export function staffRoutes(router: Router): void {
  route(
    router,
    {
      method: 'get',
      path: '/v1/staff/users/:id',
      operationId: 'getUserAsStaff',
      summary: "A person's profile, for support (audited)",
      tags: ['Staff'],
      auth: 'support',
      params: UserId,
      responses: { 200: { description: 'Profile with counts', schema: StaffUser } },
      errors: { 404: 'not_found' },
    },
    async (req, res, { user: staff, params }) => {
      const ctx = ctxOf(req);
      const { user: u, photos, orders } = await userForStaff(ctx, staff, params.id);
      res.json({ ...me(ctx, u), status: u.status, last_used_at: iso(u.last_used_at)!, counts: { photos, orders } });
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/staff/users/:id/orders',
      operationId: 'listUserOrdersAsStaff',
      summary: "A person's orders, for support (audited)",
      tags: ['Staff'],
      auth: 'support',
      params: UserId,
      query: Cursor(idOf('ord', 'order')),
      responses: { 200: { description: 'Newest first', schema: page(OrderOut, 'StaffOrderPage') } },
      errors: { 404: 'not_found' },
    },
    async (req, res, { user: staff, params, query }) => {
      const ctx = ctxOf(req);
      const { items, next_cursor } = await userOrdersForStaff(ctx, staff, params.id, query);
      res.json({ items: await Promise.all(items.map((o) => orderOut(ctx, o))), next_cursor });
    },
  );

  route(
    router,
    {
      method: 'get',
      path: '/v1/staff/audit-log',
      operationId: 'listAuditLog',
      summary: 'Staff reads of personal data, newest first (ids only)',
      tags: ['Staff'],
      auth: 'privacy_officer',
      query: AuditQuery,
      responses: { 200: { description: 'Audit entries', schema: page(AuditEntry, 'AuditPage') } },
    },
    async (req, res, { query }) => {
      const ctx = ctxOf(req);
      const rows = await auditLogPage(ctx, {
        cursor: query.cursor,
        limit: query.limit,
        subjectUserId: query.subject_user_id,
        actorId: query.actor_id,
      });
      const items = rows.items.map((r) => ({ ...r, id: String(r.id), at: iso(r.at)! }));
      res.json({ items, next_cursor: rows.more ? items[items.length - 1].id : null });
    },
  );
}

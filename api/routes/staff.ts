import type { Router } from 'express';
import { auditStaffRead } from '../../core/privacy/audit';
import type { AppContext } from '../../core/platform/context';
import type { User } from '../../core/platform/db';
import { ctxOf } from '../auth';
import { z } from '../openapi';
import { HttpError } from '../problem';
import { route } from '../route';
import { Cursor, IdParam, idOf, iso, OrderOut, page } from '../schemas';
import { me, Me } from '../account-out';
import { orderOut } from '../order-out';
import { ordersPage } from '../../core/orders/ordering';

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

const noSuchUser = () => new HttpError(404, 'not_found', 'User not found', 'No user with that id.');

async function userOr404(ctx: AppContext, id: string): Promise<User> {
  const u = await ctx.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  if (!u) throw noSuchUser();
  return u;
}

const count = (ctx: AppContext, table: 'photos' | 'orders', userId: string) =>
  ctx.db.selectFrom(table).select((eb) => eb.fn.countAll<string>().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow().then((r) => Number(r.n));

export function staffRoutes(router: Router): void {
  route(
    router,
    { method: 'get', path: '/v1/staff/users/:id', operationId: 'getUserAsStaff', summary: "A person's profile, for support (audited)", tags: ['Staff'], auth: 'support', params: UserId, responses: { 200: { description: 'Profile with counts', schema: StaffUser } }, errors: { 404: 'not_found' } },
    async (req, res, { user: staff, params }) => {
      const ctx = ctxOf(req);
      const u = await userOr404(ctx, params.id);
      await auditStaffRead(ctx, staff, { action: 'read', subjectUserId: u.id, resource: 'user', resourceId: u.id });
      res.json({ ...me(ctx, u), status: u.status, last_used_at: iso(u.last_used_at)!, counts: { photos: await count(ctx, 'photos', u.id), orders: await count(ctx, 'orders', u.id) } });
    },
  );

  route(
    router,
    { method: 'get', path: '/v1/staff/users/:id/orders', operationId: 'listUserOrdersAsStaff', summary: "A person's orders, for support (audited)", tags: ['Staff'], auth: 'support', params: UserId, query: Cursor(idOf('ord', 'order')), responses: { 200: { description: 'Newest first', schema: page(OrderOut, 'StaffOrderPage') } }, errors: { 404: 'not_found' } },
    async (req, res, { user: staff, params, query }) => {
      const ctx = ctxOf(req);
      const u = await userOr404(ctx, params.id);
      await auditStaffRead(ctx, staff, { action: 'list', subjectUserId: u.id, resource: 'orders' });
      const { items, next_cursor } = await ordersPage(ctx, u.id, query);
      res.json({ items: await Promise.all(items.map((o) => orderOut(ctx, o))), next_cursor });
    },
  );

  route(
    router,
    { method: 'get', path: '/v1/staff/audit-log', operationId: 'listAuditLog', summary: 'Staff reads of personal data, newest first (ids only)', tags: ['Staff'], auth: 'privacy_officer', query: AuditQuery, responses: { 200: { description: 'Audit entries', schema: page(AuditEntry, 'AuditPage') } } },
    async (req, res, { query }) => {
      const ctx = ctxOf(req);
      let q = ctx.db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(query.limit + 1);
      if (query.cursor) q = q.where('id', '<', query.cursor);
      if (query.subject_user_id) q = q.where('subject_user_id', '=', query.subject_user_id);
      if (query.actor_id) q = q.where('actor_id', '=', query.actor_id);
      const rows = await q.execute();
      const items = rows.slice(0, query.limit).map((r) => ({ ...r, id: String(r.id), at: iso(r.at)! }));
      res.json({ items, next_cursor: rows.length > query.limit ? items[items.length - 1].id : null });
    },
  );
}

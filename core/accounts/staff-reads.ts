import type { AppContext } from '../platform/context';
import type { Order, User } from '../platform/db';
import { DomainError } from '../platform/errors';
import type { Page, PageRequest } from '../platform/paging';
import { ordersPage } from '../orders/ordering';
import { auditStaffRead } from '../privacy/audit';

/** Support's reads of a person's data: each one audited before it is answered. */

const noSuchUser = () => new DomainError(404, 'not_found', 'User not found', 'No user with that id.');

async function userOr404(ctx: AppContext, id: string): Promise<User> {
  const u = await ctx.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  if (!u) throw noSuchUser();
  return u;
}

const count = (ctx: AppContext, table: 'photos' | 'orders', userId: string) =>
  ctx.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow()
    .then((r) => Number(r.n));

/** A person's profile with how many photos and orders they hold. */
export async function userForStaff(
  ctx: AppContext,
  staff: Pick<User, 'id' | 'role'>,
  userId: string,
): Promise<{ user: User; photos: number; orders: number }> {
  const user = await userOr404(ctx, userId);
  await auditStaffRead(ctx, staff, { action: 'read', subjectUserId: user.id, resource: 'user', resourceId: user.id });
  return { user, photos: await count(ctx, 'photos', user.id), orders: await count(ctx, 'orders', user.id) };
}

/** One page of a person's orders. */
export async function userOrdersForStaff(
  ctx: AppContext,
  staff: Pick<User, 'id' | 'role'>,
  userId: string,
  page: PageRequest,
): Promise<Page<Order>> {
  const user = await userOr404(ctx, userId);
  await auditStaffRead(ctx, staff, { action: 'list', subjectUserId: user.id, resource: 'orders' });
  return ordersPage(ctx, user.id, page);
}

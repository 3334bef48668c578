import { sql } from 'kysely';
import { sendEmailOnce } from '../notifications/email';
import { appLink } from '../notifications/links';
import { findPackage, findStyle } from '../orders/catalog';
import { startOrder } from '../orders/orders';
import { choosePhotos } from '../orders/ranking';
import type { Verdict } from '../photos/verdict';
import type { AppContext } from '../platform/context';
import { decryptField, newId } from '../platform/crypto';
import type { Blob, Review } from '../platform/db';
import { DomainError } from '../platform/errors';
import { requireAdmin } from './access';
import { listInvitations } from './invitations';
import { queueWebhook } from './webhooks';

/**
 * What admins see: each member's progress as one word (never their photos, verdicts or anything
 * they did not share), the headshots members shared, and the review of those: approve, or ask for
 * a redo, which is a reprocess of the member's own photos while they are held (SD5's 30 days),
 * paid by the organisation without drawing a seat.
 */
export type MemberStatus = 'invited' | 'joined' | 'uploaded' | 'ordered' | 'ready' | 'shared';

export interface MemberRow {
  user_id: string | null;
  invitation_id: string | null;
  name: string | null;
  email: string;
  role: 'owner' | 'admin' | 'member';
  status: MemberStatus;
  shared: number;
  approved: number;
  joined_at: Date | null;
}

export async function memberList(ctx: AppContext, userId: string, organisationId: string): Promise<MemberRow[]> {
  await requireAdmin(ctx, organisationId, userId);
  const members = await ctx.db
    .selectFrom('organisation_members')
    .innerJoin('users', 'users.id', 'organisation_members.user_id')
    .select([
      'users.id',
      'users.name_enc',
      'users.email_enc',
      'organisation_members.role',
      'organisation_members.joined_at',
    ])
    .where('organisation_members.organisation_id', '=', organisationId)
    .orderBy('organisation_members.joined_at')
    .execute();
  const ids = members.map((m) => m.id);
  const none = [''];
  const photos = await ctx.db
    .selectFrom('photos')
    .select(['user_id', sql<number>`count(*)::int`.as('n')])
    .where('user_id', 'in', ids.length ? ids : none)
    .groupBy('user_id')
    .execute();
  const orders = await ctx.db
    .selectFrom('seat_draws')
    .innerJoin('orders', 'orders.id', 'seat_draws.order_id')
    .select(['orders.user_id', 'orders.status'])
    .where('seat_draws.organisation_id', '=', organisationId)
    .execute();
  const shared = await ctx.db
    .selectFrom('shared_headshots')
    .select([
      'user_id',
      sql<number>`count(*)::int`.as('n'),
      sql<number>`count(*) filter (where review = 'approved')::int`.as('approved'),
    ])
    .where('organisation_id', '=', organisationId)
    .groupBy('user_id')
    .execute();
  const rows: MemberRow[] = members.map((m) => {
    const s = shared.find((x) => x.user_id === m.id);
    const own = orders.filter((o) => o.user_id === m.id);
    const status: MemberStatus = s?.n
      ? 'shared'
      : own.some((o) => o.status === 'ready')
        ? 'ready'
        : own.some((o) => o.status !== 'failed')
          ? 'ordered'
          : photos.some((p) => p.user_id === m.id && p.n > 0)
            ? 'uploaded'
            : 'joined';
    return {
      user_id: m.id,
      invitation_id: null,
      name: decryptField(ctx.pii, m.name_enc),
      email: decryptField(ctx.pii, m.email_enc),
      role: m.role,
      status,
      shared: s?.n ?? 0,
      approved: s?.approved ?? 0,
      joined_at: m.joined_at,
    };
  });
  const invited = (await listInvitations(ctx, userId, organisationId)).filter(
    (i) => i.kind === 'email' && i.status === 'pending' && i.email,
  );
  for (const i of invited)
    rows.push({
      user_id: null,
      invitation_id: i.id,
      name: null,
      email: i.email!,
      role: i.role,
      status: 'invited',
      shared: 0,
      approved: 0,
      joined_at: null,
    });
  return rows;
}

export interface SharedRow {
  headshot_id: string;
  member: { id: string; name: string; email: string };
  style_id: string;
  review: Review;
  review_note: string | null;
  shared_at: Date;
  content_url: string;
}

export async function sharedHeadshots(
  ctx: AppContext,
  userId: string,
  organisationId: string,
  filter: { review?: Review } = {},
): Promise<SharedRow[]> {
  await requireAdmin(ctx, organisationId, userId);
  let q = ctx.db
    .selectFrom('shared_headshots')
    .innerJoin('headshots', 'headshots.id', 'shared_headshots.headshot_id')
    .innerJoin('users', 'users.id', 'shared_headshots.user_id')
    .select([
      'shared_headshots.headshot_id',
      'shared_headshots.user_id',
      'shared_headshots.review',
      'shared_headshots.review_note',
      'shared_headshots.shared_at',
      'headshots.style_id',
      'users.name_enc',
      'users.email_enc',
    ])
    .where('shared_headshots.organisation_id', '=', organisationId)
    .where('headshots.status', '=', 'rendered')
    .orderBy('shared_headshots.shared_at')
    .orderBy('shared_headshots.headshot_id');
  if (filter.review) q = q.where('shared_headshots.review', '=', filter.review);
  return (await q.execute()).map((r) => ({
    headshot_id: r.headshot_id,
    member: { id: r.user_id, name: decryptField(ctx.pii, r.name_enc), email: decryptField(ctx.pii, r.email_enc) },
    style_id: r.style_id,
    review: r.review,
    review_note: r.review_note,
    shared_at: r.shared_at,
    content_url: `/v1/organisations/${organisationId}/headshots/${r.headshot_id}/content`,
  }));
}

const notShared = () =>
  new DomainError(404, 'not_found', 'Headshot not found', 'No headshot with that id is shared with this organisation.');

/** A shared headshot's stored file, for an admin of the organisation it is shared with; nothing else. */
export async function sharedHeadshotBlob(
  ctx: AppContext,
  userId: string,
  organisationId: string,
  headshotId: string,
): Promise<{ blob: Blob; style_id: string }> {
  await requireAdmin(ctx, organisationId, userId);
  const row = await ctx.db
    .selectFrom('shared_headshots')
    .innerJoin('headshots', 'headshots.id', 'shared_headshots.headshot_id')
    .innerJoin('blobs', 'blobs.id', 'headshots.blob_id')
    .selectAll('blobs')
    .select('headshots.style_id')
    .where('shared_headshots.organisation_id', '=', organisationId)
    .where('shared_headshots.headshot_id', '=', headshotId)
    .where('headshots.status', '=', 'rendered')
    .executeTakeFirst();
  if (!row) throw notShared();
  const { style_id, ...blob } = row;
  return { blob: blob as Blob, style_id };
}

export async function approveHeadshot(
  ctx: AppContext,
  userId: string,
  organisationId: string,
  headshotId: string,
): Promise<void> {
  await requireAdmin(ctx, organisationId, userId);
  const r = await ctx.db
    .updateTable('shared_headshots')
    .set({ review: 'approved', reviewed_by: userId, reviewed_at: ctx.clock.now(), review_note: null })
    .where('organisation_id', '=', organisationId)
    .where('headshot_id', '=', headshotId)
    .returning('user_id')
    .executeTakeFirst();
  if (!r) throw notShared();
  await queueWebhook(ctx, organisationId, 'headshot.approved', { member_id: r.user_id, headshot_id: headshotId });
}

/**
 * Asks for a redo: a new order of the headshot's style from the member's photos of the order it
 * came from, while they are held (410 originals_expired after), the photo it was made from left
 * out when another is there. It starts at once, costs no seat, and the member is told; the new
 * headshot is theirs to share or not.
 */
export async function requestRedo(
  ctx: AppContext,
  userId: string,
  organisationId: string,
  headshotId: string,
  note: string | null,
): Promise<{ order_id: string }> {
  await requireAdmin(ctx, organisationId, userId);
  const shared = await ctx.db
    .selectFrom('shared_headshots')
    .innerJoin('headshots', 'headshots.id', 'shared_headshots.headshot_id')
    .select([
      'shared_headshots.user_id',
      'shared_headshots.review',
      'shared_headshots.redo_order_id',
      'headshots.order_id',
      'headshots.photo_id',
      'headshots.style_id',
    ])
    .where('shared_headshots.organisation_id', '=', organisationId)
    .where('shared_headshots.headshot_id', '=', headshotId)
    .executeTakeFirst();
  if (!shared) throw notShared();
  if (shared.redo_order_id) {
    const open = await ctx.db
      .selectFrom('orders')
      .select('status')
      .where('id', '=', shared.redo_order_id)
      .executeTakeFirst();
    if (open && !['ready', 'failed'].includes(open.status))
      throw new DomainError(
        409,
        'redo_in_progress',
        'A redo is being made',
        'The redo asked for earlier is still being made.',
      );
  }
  const earlier = await ctx.db
    .selectFrom('orders')
    .select(['package_id', 'currency'])
    .where('id', '=', shared.order_id)
    .executeTakeFirstOrThrow();
  const photos = await ctx.db
    .selectFrom('order_photos')
    .innerJoin('photos', 'photos.id', 'order_photos.photo_id')
    .select(['photos.id', 'photos.verdict'])
    .where('order_photos.order_id', '=', shared.order_id)
    .where('photos.status', '=', 'usable')
    .execute();
  if (!photos.length)
    throw new DomainError(
      410,
      'originals_expired',
      'Originals no longer held',
      `The member's photos are kept for ${ctx.config.RETENTION_ORIGINALS_DAYS} days after processing; a redo needs new photos from them.`,
    );
  const distinct = choosePhotos(
    photos.map((p) => ({ id: p.id, verdict: p.verdict as Verdict, excluded: false })),
    Infinity,
  ).filter((c) => c.chosen);
  const leaveOut = distinct.length > 1 ? shared.photo_id : null;
  const org = await ctx.db
    .selectFrom('organisations')
    .select(['name', 'backdrop'])
    .where('id', '=', organisationId)
    .executeTakeFirstOrThrow();
  const now = ctx.clock.now();
  const orderId = newId('ord');
  await ctx.db.transaction().execute(async (trx) => {
    await trx
      .insertInto('orders')
      .values({
        id: orderId,
        user_id: shared.user_id,
        package_id: findPackage(earlier.package_id)?.id ?? 'starter',
        styles: JSON.stringify([shared.style_id]),
        status: 'received',
        amount_cents: 0,
        currency: earlier.currency,
        headshots_expected: 1,
        failure_code: null,
        failure_detail: null,
        created_at: now,
        paid_at: now,
        delivered_at: null,
        backdrop: org.backdrop ? JSON.stringify(org.backdrop) : null,
      })
      .execute();
    await trx
      .insertInto('order_photos')
      .values(photos.map((p) => ({ order_id: orderId, photo_id: p.id, excluded: p.id === leaveOut })))
      .execute();
    await trx
      .insertInto('seat_draws')
      .values({
        id: newId('sdr'),
        organisation_id: organisationId,
        order_id: orderId,
        user_id: shared.user_id,
        package_id: earlier.package_id,
        kind: 'redo',
        drawn_at: now,
      })
      .execute();
    await trx
      .updateTable('shared_headshots')
      .set({
        review: 'redo_requested',
        review_note: note,
        reviewed_by: userId,
        reviewed_at: now,
        redo_order_id: orderId,
      })
      .where('organisation_id', '=', organisationId)
      .where('headshot_id', '=', headshotId)
      .execute();
  });
  await startOrder(ctx, orderId);
  await sendEmailOnce(ctx, {
    userId: shared.user_id,
    kind: 'team-redo',
    dedupeKey: `team-redo:${orderId}`,
    build: ({ name }) => ({
      subject: `${org.name} asked for another headshot`,
      text: `Hello ${name},\n\n${org.name} asked for another ${findStyle(shared.style_id)?.name ?? shared.style_id} headshot${note ? `: "${note}"` : ''}. We are making it from your photos now, at no cost to you. Once it is ready you choose whether to share it: ${appLink(ctx, 'order', { id: orderId })}\n\nRasmi`,
    }),
  });
  return { order_id: orderId };
}

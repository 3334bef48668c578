import sharp from 'sharp';
import type { AppContext } from '../platform/context';
import { consentInForce } from './consent-sql';
import { newId } from '../platform/crypto';
import { recordRemoval } from './removal-record';

/**
 * The public portfolio (CN4): rendered headshots of people who opted in to 'portfolio'. An item
 * points at a headshot and is deleted with it (foreign key cascade), so retention (RT2) removes it
 * too. Public output carries only the item id and the style: no name, no order, no headshot id.
 */

/** Publishes every rendered headshot of the person; run on opt-in and after each delivery. */
export async function publishPortfolio(ctx: AppContext, userId: string): Promise<number> {
  const headshots = await ctx.db
    .selectFrom('headshots')
    .select(['id', 'style_id'])
    .where('user_id', '=', userId)
    .where('status', '=', 'rendered')
    .where('blob_id', 'is not', null)
    .execute();
  if (!headshots.length) return 0;
  const now = ctx.clock.now();
  const r = await ctx.db
    .insertInto('portfolio_items')
    .values(
      headshots.map((h) => ({
        id: newId('pf'),
        headshot_id: h.id,
        user_id: userId,
        style_id: h.style_id,
        published_at: now,
      })),
    )
    .onConflict((oc) => oc.column('headshot_id').doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0);
}

/** Publishes new headshots only while the person's portfolio consent is in force. */
export async function publishIfOptedIn(ctx: AppContext, userId: string): Promise<void> {
  const ok = await ctx.db
    .selectFrom('users')
    .select('id')
    .where('id', '=', userId)
    .where('status', '=', 'active')
    .where(consentInForce('users.id', 'portfolio'))
    .executeTakeFirst();
  if (ok) await publishPortfolio(ctx, userId);
}

/** Withdrawal removes the person's items at once; the headshots themselves stay theirs. */
export async function unpublishPortfolio(ctx: AppContext, userId: string, reason: string): Promise<number> {
  const r = await ctx.db.deleteFrom('portfolio_items').where('user_id', '=', userId).executeTakeFirst();
  const n = Number(r.numDeletedRows);
  await recordRemoval(ctx, { subjectId: userId, subjectKind: 'portfolio', reason, details: { portfolio_items: n } });
  return n;
}

/** Items whose owner's consent is in force right now, whatever path recorded a withdrawal. */
function visibleItems(ctx: AppContext) {
  return ctx.db
    .selectFrom('portfolio_items')
    .innerJoin('users', 'users.id', 'portfolio_items.user_id')
    .innerJoin('headshots', 'headshots.id', 'portfolio_items.headshot_id')
    .where('users.status', '=', 'active')
    .where('headshots.status', '=', 'rendered')
    .where(consentInForce('portfolio_items.user_id', 'portfolio'));
}

export async function listPortfolio(ctx: AppContext, page: { cursor?: string; limit: number }) {
  let q = visibleItems(ctx)
    .select(['portfolio_items.id', 'portfolio_items.style_id'])
    .orderBy('portfolio_items.id', 'desc')
    .limit(page.limit + 1);
  if (page.cursor) q = q.where('portfolio_items.id', '<', page.cursor);
  const rows = await q.execute();
  const items = rows.slice(0, page.limit);
  return { items, next_cursor: rows.length > page.limit ? items[items.length - 1].id : null };
}

/**
 * The item's image, decrypted and re-encoded by sharp, which writes no EXIF, XMP, ICC or
 * comment: whatever the stored file carried, the public copy has pixels only. Null when the item
 * is gone or its owner's consent is no longer in force.
 */
export async function portfolioImage(ctx: AppContext, itemId: string): Promise<Buffer | null> {
  const row = await visibleItems(ctx)
    .innerJoin('blobs', 'blobs.id', 'headshots.blob_id')
    .selectAll('blobs')
    .where('portfolio_items.id', '=', itemId)
    .executeTakeFirst();
  if (!row) return null;
  const plain = await ctx.storage.read(row);
  return sharp(plain, { limitInputPixels: ctx.config.UPLOAD_MAX_PIXELS }).rotate().jpeg({ quality: 88 }).toBuffer();
}

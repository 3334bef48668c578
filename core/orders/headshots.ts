import sharp from 'sharp';
import type { AppContext } from '../platform/context';
import { DAY_MS } from '../platform/config';
import type { Blob, Headshot } from '../platform/db';
import { DomainError, notFound } from '../platform/errors';
import { squareCrop, type ASPECTS } from './catalog';

export type Aspect = (typeof ASPECTS)[number];

/** A rendered headshot, with the object it is stored in. */
export type RenderedHeadshot = Headshot & { blob_id: string };

const headshotExpired = () =>
  new DomainError(
    410,
    'headshot_expired',
    'Headshot no longer available',
    'Headshots can be downloaded again for 90 days after delivery; this one has passed that.',
  );

/** The owner's rendered headshot within its re-download window (SD6). */
export async function ownedHeadshot(ctx: AppContext, userId: string, id: string): Promise<RenderedHeadshot> {
  const h = await ctx.db
    .selectFrom('headshots')
    .selectAll()
    .where('id', '=', id)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  if (!h) {
    // Deleted by retention: say so, rather than pretending it never existed.
    const deleted = await ctx.db
      .selectFrom('deletion_records')
      .select('id')
      .where('subject_id', '=', id)
      .where('reason', '=', 'retention:headshots')
      .executeTakeFirst();
    throw deleted ? headshotExpired() : notFound('Headshot');
  }
  if (h.status !== 'rendered' || !h.blob_id) throw notFound('Headshot');
  const windowEnds = h.delivered_at
    ? new Date(h.delivered_at).getTime() + ctx.config.RETENTION_HEADSHOTS_DAYS * DAY_MS
    : Infinity;
  if (ctx.clock.now().getTime() >= windowEnds) throw headshotExpired();
  return h as RenderedHeadshot;
}

/** A headshot's download: the stored 4:5 master as its object, or the 1:1 square cropped from it (same eye line). */
export type HeadshotFile = { filename: string } & ({ blob: Blob } | { jpeg: Buffer });

export async function headshotFile(ctx: AppContext, h: RenderedHeadshot, aspect: Aspect): Promise<HeadshotFile> {
  const blob = await ctx.db.selectFrom('blobs').selectAll().where('id', '=', h.blob_id).executeTakeFirstOrThrow();
  const filename = `rasmi-${h.style_id}-${h.id}${aspect === '1:1' ? '-square' : ''}.jpg`;
  if (aspect === '4:5') return { filename, blob };
  const master = await ctx.storage.read(blob);
  const meta = await sharp(master).metadata();
  return {
    filename,
    jpeg: await sharp(master)
      .extract(squareCrop(meta.width, meta.height))
      .jpeg({ quality: 90, chromaSubsampling: '4:4:4' })
      .toBuffer(),
  };
}

import { once } from 'node:events';
import type { Readable } from 'node:stream';
import type { ZipEntryData } from 'archiver';
import sharp from 'sharp';
import { squareCrop } from '../orders/catalog';
import type { AppContext } from '../platform/context';
import { decryptField } from '../platform/crypto';
import type { Blob } from '../platform/db';
import { zipArchive } from '../privacy/export';
import { requireAdmin } from './access';

/**
 * The admins' download: the approved shared headshots and members.csv (name, email, style, file),
 * streamed as the data export is (core/privacy/export.ts): each file is appended as a decrypting
 * stream once the archive has taken the one before, as the reader drains it, so memory holds a few
 * chunks whatever the team's size. Each file's share is checked again just before it is added: a
 * member who withdraws or leaves while a ZIP is being read is not in the rest of it. With a logo,
 * a square profile-picture variant with the logo in its corner goes beside each headshot.
 */
const csvField = (v: string) =>
  /[",\r\n]/.test(v) || /^[=+\-@\t]/.test(v) ? `"${(/^[=+\-@\t]/.test(v) ? "'" : '') + v.replace(/"/g, '""')}"` : v;
const slug = (s: string) =>
  s
    .normalize('NFKD')
    .replace(/[^\w\s-]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, '-')
    .slice(0, 40) || 'member';

export async function teamZip(
  ctx: AppContext,
  userId: string,
  organisationId: string,
  opts: { include: 'approved' | 'shared' },
): Promise<{ zip: Readable; files: Promise<number> }> {
  await requireAdmin(ctx, organisationId, userId);
  let q = ctx.db
    .selectFrom('shared_headshots')
    .innerJoin('headshots', 'headshots.id', 'shared_headshots.headshot_id')
    .innerJoin('users', 'users.id', 'shared_headshots.user_id')
    .select([
      'shared_headshots.headshot_id',
      'shared_headshots.user_id',
      'headshots.style_id',
      'headshots.blob_id',
      'users.name_enc',
      'users.email_enc',
    ])
    .where('shared_headshots.organisation_id', '=', organisationId)
    .where('headshots.status', '=', 'rendered')
    .orderBy('shared_headshots.shared_at')
    .orderBy('shared_headshots.headshot_id');
  if (opts.include === 'approved') q = q.where('shared_headshots.review', '=', 'approved');
  const rows = await q.execute();
  const org = await ctx.db
    .selectFrom('organisations')
    .select('logo_blob_id')
    .where('id', '=', organisationId)
    .executeTakeFirstOrThrow();

  const archive = zipArchive({ zlib: { level: 9 } });
  const closed = once(archive, 'close').then(() =>
    Promise.reject(new Error('the team archive was closed before it was complete')),
  );
  closed.catch(() => {});
  const add = async (source: Readable | string | Buffer, entry: ZipEntryData) => {
    const taken = once(archive, 'entry');
    archive.append(source, entry);
    await Promise.race([taken, closed]);
  };
  const files = (async () => {
    const at = ctx.clock.now();
    const logo = org.logo_blob_id
      ? await ctx.db.selectFrom('blobs').selectAll().where('id', '=', org.logo_blob_id).executeTakeFirst()
      : undefined;
    const logoPng = logo ? await ctx.storage.read(logo) : undefined;
    const lines = ['name,email,style,file'];
    let added = 0;
    for (const r of rows) {
      // Still shared, and its file still there, now: a withdrawal since the list was read is honoured.
      const still = await ctx.db
        .selectFrom('shared_headshots')
        .select('headshot_id')
        .where('organisation_id', '=', organisationId)
        .where('headshot_id', '=', r.headshot_id)
        .executeTakeFirst();
      const blob =
        still && r.blob_id
          ? await ctx.db.selectFrom('blobs').selectAll().where('id', '=', r.blob_id).executeTakeFirst()
          : undefined;
      if (!blob) continue;
      const name = decryptField(ctx.pii, r.name_enc);
      const file = `headshots/${slug(name)}-${r.style_id}-${r.headshot_id}.jpg`;
      await add(await ctx.storage.stream(blob), { name: file, date: at, store: true });
      if (logoPng)
        await add(await profileVariant(ctx, blob, logoPng), {
          name: file.replace(/^headshots\//, 'profile/').replace(/\.jpg$/, '-square.jpg'),
          date: at,
          store: true,
        });
      lines.push([name, decryptField(ctx.pii, r.email_enc), r.style_id, file].map(csvField).join(','));
      added++;
    }
    await add(`${lines.join('\r\n')}\r\n`, { name: 'members.csv', date: at });
    await Promise.race([archive.finalize(), closed]);
    return added;
  })();
  files.catch((err: Error) => archive.destroy(err));
  return { zip: archive, files };
}

/** The 1:1 square (eyes 40 % down) with the organisation's logo in the lower right corner, a fifth of the width. */
async function profileVariant(ctx: AppContext, blob: Blob, logoPng: Buffer): Promise<Buffer> {
  const master = await ctx.storage.read(blob);
  const meta = await sharp(master).metadata();
  const crop = squareCrop(meta.width, meta.height);
  const size = Math.round(crop.width / 5);
  const mark = await sharp(logoPng).resize(size, size, { fit: 'inside' }).png().toBuffer();
  const m = await sharp(mark).metadata();
  const margin = Math.round(crop.width / 32);
  return sharp(master)
    .extract(crop)
    .composite([{ input: mark, left: crop.width - m.width - margin, top: crop.width - m.height - margin }])
    .jpeg({ quality: 90, chromaSubsampling: '4:4:4' })
    .toBuffer();
}

import sharp from 'sharp';
import { findStyle, STYLES } from '../orders/catalog';
import type { AppContext } from '../platform/context';
import type { BrandBackdrop } from '../platform/db';
import { DomainError } from '../platform/errors';
import { requireAdmin, requireMember } from './access';

/**
 * An organisation's brand: the catalogue's styles its members may use (all, or a subset), its own
 * backdrop (one colour or a two-colour gradient, used in place of the styles' own so the whole team
 * matches) and a logo for a profile-picture variant in the admins' download.
 */
export type BackdropInput = { kind: 'solid'; colour: string } | { kind: 'gradient'; from: string; to: string };

const rgb = (hex: string): [number, number, number] =>
  [0, 2, 4].map((i) => parseInt(hex.slice(1 + i, 3 + i), 16)) as [number, number, number];
const hex = (c: [number, number, number]) => `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;

export function backdropOf(input: BackdropInput | null): BrandBackdrop | null {
  if (!input) return null;
  return input.kind === 'solid'
    ? { kind: 'solid', rgb: rgb(input.colour) }
    : { kind: 'gradient', top: rgb(input.from), bottom: rgb(input.to) };
}

export function backdropOut(b: BrandBackdrop | null): BackdropInput | null {
  if (!b) return null;
  return b.kind === 'solid'
    ? { kind: 'solid', colour: hex(b.rgb) }
    : { kind: 'gradient', from: hex(b.top), to: hex(b.bottom) };
}

export function checkStyles(styles: string[]): string[] {
  const unique = [...new Set(styles)];
  const unknown = unique.filter((s) => !findStyle(s));
  if (unknown.length)
    throw new DomainError(
      422,
      'unknown_style',
      'Unknown style',
      `Unknown style ids: ${unknown.join(', ')}. Choose from: ${STYLES.map((s) => s.id).join(', ')}.`,
    );
  if (!unique.length)
    throw new DomainError(
      422,
      'no_style_allowed',
      'No style allowed',
      'Allow at least one style, or send null to allow them all.',
    );
  return unique;
}

export async function setBrand(
  ctx: AppContext,
  userId: string,
  organisationId: string,
  input: { allowed_styles?: string[] | null; backdrop?: BackdropInput | null },
): Promise<void> {
  await requireAdmin(ctx, organisationId, userId);
  const set: { allowed_styles?: string | null; backdrop?: string | null } = {};
  if (input.allowed_styles !== undefined)
    set.allowed_styles = input.allowed_styles === null ? null : JSON.stringify(checkStyles(input.allowed_styles));
  if (input.backdrop !== undefined)
    set.backdrop = input.backdrop === null ? null : JSON.stringify(backdropOf(input.backdrop));
  if (Object.keys(set).length)
    await ctx.db.updateTable('organisations').set(set).where('id', '=', organisationId).execute();
}

/** Logos are small PNG or JPEG images; they are re-encoded as PNG without metadata (as photos are, PH3). */
export const LOGO_MAX_BYTES = 64 * 1024;

export async function setLogo(
  ctx: AppContext,
  userId: string,
  organisationId: string,
  data: Buffer | null,
): Promise<void> {
  await requireAdmin(ctx, organisationId, userId);
  let png: Buffer | null = null;
  if (data) {
    if (data.length > LOGO_MAX_BYTES)
      throw new DomainError(
        413,
        'logo_too_large',
        'Logo too large',
        `A logo can be at most ${LOGO_MAX_BYTES / 1024} kB.`,
      );
    try {
      const img = sharp(data, { limitInputPixels: 4096 * 4096 });
      const meta = await img.metadata();
      if (!['png', 'jpeg', 'webp'].includes(meta.format ?? '')) throw new Error('format');
      png = await img.resize(512, 512, { fit: 'inside', withoutEnlargement: true }).png().toBuffer();
    } catch {
      throw new DomainError(422, 'logo_unreadable', 'Logo not readable', 'Send the logo as a PNG, JPEG or WebP image.');
    }
  }
  const old = await ctx.db
    .selectFrom('organisations')
    .select('logo_blob_id')
    .where('id', '=', organisationId)
    .executeTakeFirstOrThrow();
  const blob = png
    ? await ctx.storage.put(ctx.db, {
        role: 'headshots',
        userId: null,
        contentType: 'image/png',
        data: png,
        at: ctx.clock.now(),
      })
    : null;
  await ctx.db
    .updateTable('organisations')
    .set({ logo_blob_id: blob?.id ?? null })
    .where('id', '=', organisationId)
    .execute();
  if (old.logo_blob_id) {
    const b = await ctx.db.selectFrom('blobs').selectAll().where('id', '=', old.logo_blob_id).executeTakeFirst();
    if (b) await ctx.storage.remove(ctx.db, b);
  }
}

/** The logo, for any member of the organisation. */
export async function organisationLogo(
  ctx: AppContext,
  userId: string,
  organisationId: string,
): Promise<{ stream: import('node:stream').Readable; size: number }> {
  await requireMember(ctx, organisationId, userId);
  const row = await ctx.db
    .selectFrom('organisations')
    .innerJoin('blobs', 'blobs.id', 'organisations.logo_blob_id')
    .selectAll('blobs')
    .where('organisations.id', '=', organisationId)
    .executeTakeFirst();
  if (!row) throw new DomainError(404, 'not_found', 'No logo', 'This organisation has no logo.');
  return { stream: await ctx.storage.stream(row), size: row.size_bytes };
}

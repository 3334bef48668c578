import sharp from 'sharp';

/**
 * A photo's thumbnail, so a returning person sees their photos without downloading originals: made
 * from the prepared photo (already oriented and stripped), at most THUMBNAIL_SIZE on its longer side
 * (a 8-rem tile at 3x pixel density), a fresh JPEG that carries no metadata. JPEG shrink-on-load
 * decodes the prepared photo at 1/8 scale, so it costs a few milliseconds, not a full decode.
 */
export const THUMBNAIL_SIZE = 384;

export async function makeThumbnail(prepared: Buffer): Promise<Buffer> {
  return sharp(prepared)
    .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside', withoutEnlargement: true })
    .jpeg({ quality: 78, mozjpeg: true })
    .toBuffer();
}

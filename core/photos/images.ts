import sharp, { type Metadata, type Sharp } from 'sharp';
import { decodeHevcHeif, heifCoding, heifExtentsInside } from './heif';
import { damaged, ImageRejected } from './image-rejected';
import type { Photo } from '../platform/db';
import type { RgbImage } from './pixels';
import { storedVerdict } from './lifecycle';

export { ImageRejected };

// Every image is seen once: libvips' operation cache would only hold memory (docs/performance.md, Load).
sharp.cache(false);

/** Types accepted for upload, told from the bytes, never from the name or Content-Type (PH1). */
export type ImageType = 'jpeg' | 'png' | 'webp' | 'heic';

export const MIME: Record<ImageType, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  heic: 'image/heic',
};

export function sniffImageType(head: Buffer): ImageType | null {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (head.length >= 8 && head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])))
    return 'png';
  if (head.length >= 12 && head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WEBP')
    return 'webp';
  if (
    head.length >= 12 &&
    head.toString('latin1', 4, 8) === 'ftyp' &&
    /^(heic|heix|hevc|heim|heis|mif1|msf1)$/.test(head.toString('latin1', 8, 12))
  )
    return 'heic';
  return null;
}

export interface NormalisedImage {
  /** sRGB JPEG, EXIF orientation applied, every metadata block stripped (PH3). */
  data: Buffer;
  width: number;
  height: number;
}

/** Every decode of an uploaded file: pixel cap before decoding, truncation is an error, one pass. */
const untrusted = (input: Buffer, maxPixels: number): Sharp =>
  sharp(input, { limitInputPixels: maxPixels, failOn: 'truncated', sequentialRead: true });

export interface CheckedUpload {
  /** Dimensions as shown, EXIF orientation applied. */
  width: number;
  height: number;
}

/**
 * Checks an upload at the door without the cost of a full-size decode (PH2): the header must match
 * the type told from the bytes and stay under the pixel cap, and the whole image must decode at the
 * smallest scale the codec offers (a JPEG's every entropy-coded block is read at 1/8 scale, so
 * truncated or mangled data is refused here). Orienting, stripping and re-encoding at full size is
 * the worker's job (normaliseUpload), so the API answers a 5 MB photo in tens of milliseconds.
 */
export async function checkUpload(input: Buffer, type: ImageType, maxPixels: number): Promise<CheckedUpload> {
  // HEIF is read when HEVC-coded (iPhones; libheif in WebAssembly, see heif.ts) or AV1-coded (libvips).
  const coding = type === 'heic' ? heifCoding(input) : undefined;
  if (type === 'heic') {
    if (coding === undefined) throw damaged(); // no image item: most often a file cut short
    if (coding !== 'hevc' && coding !== 'av1')
      throw new ImageRejected(
        'unsupported_type',
        coding === 'none'
          ? 'This HEIF file holds no still image (an image sequence?); export the photo as JPEG or HEIC.'
          : `HEIF coded as ${coding} cannot be read; export the photo as JPEG or HEIC.`,
      );
    // An HEVC decode is about a second for 12 MP, the worker's job: here the container must hold all the data it points at.
    if (coding === 'hevc' && !heifExtentsInside(input)) throw damaged();
  }
  let meta: Metadata;
  try {
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch {
    throw damaged();
  }
  if (!meta.width || !meta.height) throw damaged();
  if (meta.width * meta.height > maxPixels) {
    throw new ImageRejected(
      'too_many_pixels',
      `The image has ${meta.width * meta.height} pixels; the limit is ${maxPixels}.`,
    );
  }
  const declared: Record<ImageType, string[]> = { jpeg: ['jpeg'], png: ['png'], webp: ['webp'], heic: ['heif'] };
  if (!meta.format || !declared[type].includes(meta.format)) {
    throw new ImageRejected('unsupported_type', 'The file content does not match an allowed image type.');
  }
  if (coding === 'hevc') return { width: meta.autoOrient.width, height: meta.autoOrient.height };
  try {
    await untrusted(input, maxPixels).resize(64, 64, { fit: 'inside' }).raw().toBuffer();
  } catch {
    throw damaged();
  }
  return { width: meta.autoOrient.width, height: meta.autoOrient.height };
}

/** Is the stored object a prepared image (oriented, stripped)? Nothing else is served or read. */
export function isPrepared(photo: Pick<Photo, 'status' | 'verdict'>): boolean {
  if (photo.status === 'preparing') return false;
  const reasons = storedVerdict(photo)?.reasons ?? [];
  return !(photo.status === 'rejected' && reasons.some((r) => r.code === 'corrupt_image'));
}

/** HEVC-coded HEIF (an iPhone photo): decoded by libheif, already turned as its container says. */
const isHevcHeif = (input: Buffer) => sniffImageType(input.subarray(0, 32)) === 'heic' && heifCoding(input) === 'hevc';

/** The stored form of every upload: pixel cap, decoded once, oriented, sRGB, every metadata block stripped (PH3). */
export async function normaliseUpload(input: Buffer, maxPixels: number): Promise<NormalisedImage> {
  let decoded: Sharp;
  if (isHevcHeif(input)) {
    // Raw pixels carry no metadata: nothing of the original's Exif or GPS reaches the stored copy.
    const { data, width, height } = await decodeHevcHeif(input, maxPixels);
    decoded = sharp(data, { raw: { width, height, channels: 4 } });
  } else {
    decoded = untrusted(input, maxPixels).rotate();
  }
  const { data, info } = await decoded
    .toColourspace('srgb')
    .flatten({ background: '#ffffff' })
    // No Huffman optimisation: for a 9-MP original it is a second pass that took 196 instead of 60 ms
    // for 3.8 % fewer bytes; this copy is read by the workers and by its owner's own downloads.
    .jpeg({ quality: 95, chromaSubsampling: '4:4:4', mozjpeg: false, optimiseCoding: false })
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** Packed 8-bit RGB pixels of a stored (already normalised) image. */
export async function decodeRgb(input: Buffer): Promise<RgbImage & { data: Buffer }> {
  const { data, info } = await sharp(input)
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected 3 channels, got ${info.channels}`);
  return { data, width: info.width, height: info.height };
}

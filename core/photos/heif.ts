import { createRequire } from 'node:module';
import { damaged, ImageRejected } from './image-rejected';

/**
 * HEIF as iPhones save it: HEVC-coded, which sharp's prebuilt libvips cannot decode (it reads
 * AV1-coded HEIF only). These are decoded with libheif compiled to WebAssembly (npm `heic-decode`,
 * ISC, on `libheif-js`, LGPL-3.0, whose .wasm ships in the package: nothing is fetched at run time).
 * libheif applies the container's rotation and mirroring (irot, imir); the Exif orientation tag is
 * not applied on top, as the HEIF specification says and as libvips does (iPhones write both).
 */

interface Box {
  type: string;
  /** Offset of the box's first byte and of its payload, and of the byte after it. */
  start: number;
  body: number;
  end: number;
}

/** The boxes in `buf` from `start` to `end` (ISO BMFF: 32-bit size, 'size 1' for 64-bit, 'size 0' to the end). */
export function boxesIn(buf: Buffer, start: number, end: number): Box[] {
  const out: Box[] = [];
  let at = start;
  while (at + 8 <= end) {
    let size = buf.readUInt32BE(at);
    let body = at + 8;
    if (size === 1) {
      if (at + 16 > end) break;
      size = Number(buf.readBigUInt64BE(at + 8));
      body = at + 16;
    } else if (size === 0) size = end - at;
    if (size < body - at || at + size > end) break;
    out.push({ type: buf.toString('latin1', at + 4, at + 8), start: at, body, end: at + size });
    at += size;
  }
  return out;
}

/** The first child box of a type (full boxes skip their version and flags: `full`). */
export function child(buf: Buffer, parent: { body: number; end: number }, type: string, full = false): Box | undefined {
  return boxesIn(buf, parent.body + (full ? 4 : 0), parent.end).find((b) => b.type === type);
}

/** The top-level meta box. */
export const metaBox = (buf: Buffer) => boxesIn(buf, 0, buf.length).find((b) => b.type === 'meta');

export interface IlocExtent {
  item: number;
  /** Where the item's base offset field is and its width in bytes (0: none). */
  baseAt: number;
  baseSize: number;
  /** Where the extent's offset field is and its width in bytes. */
  offsetAt: number;
  offsetSize: number;
  /** Base plus extent offset: the file offset when construction method 0. */
  offset: number;
  length: number;
  /** 0: in the file; 1: in the idat box; 2: another item's data. */
  method: number;
}

/** Every extent the iloc box lists (ISO/IEC 14496-12, 8.11.3), base offsets added. */
export function ilocExtents(buf: Buffer, iloc: Box): IlocExtent[] {
  const version = buf[iloc.body];
  let p = iloc.body + 4;
  const sizes = buf.readUInt16BE(p);
  p += 2;
  const offsetSize = sizes >> 12,
    lengthSize = (sizes >> 8) & 15,
    baseSize = (sizes >> 4) & 15,
    indexSize = version > 0 ? sizes & 15 : 0;
  const read = (n: number) => {
    const v =
      n === 0
        ? 0
        : n === 4
          ? buf.readUInt32BE(p)
          : n === 8
            ? Number(buf.readBigUInt64BE(p))
            : n === 2
              ? buf.readUInt16BE(p)
              : NaN;
    if (Number.isNaN(v)) throw new Error(`iloc: field of ${n} bytes`);
    p += n;
    return v;
  };
  const count = version < 2 ? read(2) : read(4);
  const out: IlocExtent[] = [];
  for (let i = 0; i < count; i++) {
    const item = version < 2 ? read(2) : read(4);
    const method = version > 0 ? read(2) & 15 : 0;
    read(2); // data reference index
    const baseAt = p;
    const base = read(baseSize);
    const extents = read(2);
    for (let e = 0; e < extents; e++) {
      read(indexSize);
      const offsetAt = p;
      const offset = read(offsetSize);
      out.push({
        item,
        baseAt,
        baseSize,
        offsetAt,
        offsetSize,
        offset: base + offset,
        length: read(lengthSize),
        method,
      });
    }
  }
  return out;
}

/**
 * Does every item's data the container points at lie inside the file? A HEIF cut short loses the
 * coded image at its end (mdat follows meta), which libheif would only notice when decoding; this
 * tells at the door, from the header alone. An unreadable container answers false.
 */
export function heifExtentsInside(buf: Buffer): boolean {
  try {
    const meta = metaBox(buf);
    const iloc = meta && child(buf, meta, 'iloc', true);
    if (!iloc) return false;
    return ilocExtents(buf, iloc).every(
      (e) => e.method !== 0 || (e.length === 0 ? e.offset <= buf.length : e.offset + e.length <= buf.length),
    );
  } catch {
    return false;
  }
}

/**
 * How a HEIF's primary image is coded, from the container alone: 'hevc' (hvc1, iPhones), 'av1'
 * (av01, AVIF-coded HEIF), another item type as named (jpeg, unci, vvc1, ...), 'none' for a
 * well-formed file with no primary image (an image sequence), or undefined when the container is
 * cut short or garbled. A grid or derived image counts as the coding of its tiles.
 */
export function heifCoding(buf: Buffer): string | undefined {
  try {
    const top = boxesIn(buf, 0, buf.length);
    if (!top.length || top[top.length - 1].end !== buf.length) return undefined;
    const meta = top.find((b) => b.type === 'meta');
    const pitm = meta && child(buf, meta, 'pitm', true);
    const iinf = meta && child(buf, meta, 'iinf', true);
    if (!pitm || !iinf) return 'none';
    const primary = buf[pitm.body] === 0 ? buf.readUInt16BE(pitm.body + 4) : buf.readUInt32BE(pitm.body + 4);
    const entriesAt = iinf.body + 4 + (buf[iinf.body] === 0 ? 2 : 4);
    const types = new Map<number, string>();
    for (const infe of boxesIn(buf, entriesAt, iinf.end)) {
      const version = buf[infe.body];
      if (infe.type !== 'infe' || version < 2) continue;
      const idSize = version === 2 ? 2 : 4;
      const id = idSize === 2 ? buf.readUInt16BE(infe.body + 4) : buf.readUInt32BE(infe.body + 4);
      types.set(id, buf.toString('latin1', infe.body + 4 + idSize + 2, infe.body + 8 + idSize + 2));
    }
    const type = types.get(primary);
    if (!type) return undefined;
    const coded = ['grid', 'iden', 'iovl'].includes(type)
      ? ([...types.values()].find((t) => t === 'hvc1' || t === 'av01') ?? type)
      : type;
    return coded === 'hvc1' ? 'hevc' : coded === 'av01' ? 'av1' : coded;
  } catch {
    return undefined;
  }
}

interface HeifImage {
  width: number;
  height: number;
  decode(): Promise<{ width: number; height: number; data: Uint8ClampedArray }>;
}
type DecodeAll = (input: { buffer: Buffer }) => Promise<HeifImage[] & { dispose(): void }>;

// heic-decode is CommonJS without types; loaded once, on the first HEVC photo.
let decodeAll: DecodeAll | undefined;
const heicDecode = (): DecodeAll =>
  (decodeAll ??= (createRequire(import.meta.url)('heic-decode') as { all: DecodeAll }).all);

/**
 * The primary image of an HEVC-coded HEIF as RGBA, rotated and mirrored as the container says.
 * The pixel cap is checked on the header's size before anything is decoded; a file libheif cannot
 * parse as HEIC is refused as unsupported, a stream it cannot decode as damaged.
 */
export async function decodeHevcHeif(
  input: Buffer,
  maxPixels: number,
): Promise<{ data: Buffer; width: number; height: number }> {
  let images: Awaited<ReturnType<DecodeAll>>;
  try {
    images = await heicDecode()({ buffer: input });
  } catch (err) {
    if (err instanceof TypeError)
      throw new ImageRejected(
        'unsupported_type',
        'This kind of HEIF file cannot be read; export the photo as JPEG or HEIC.',
      );
    throw damaged();
  }
  try {
    const [first] = images;
    if (first.width * first.height > maxPixels)
      throw new ImageRejected(
        'too_many_pixels',
        `The image has ${first.width * first.height} pixels; the limit is ${maxPixels}.`,
      );
    const { data, width, height } = await first.decode().catch(() => {
      throw damaged();
    });
    return { data: Buffer.from(data.buffer, data.byteOffset, data.byteLength), width, height };
  } finally {
    images.dispose();
  }
}

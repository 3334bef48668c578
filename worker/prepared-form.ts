import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { RgbImage } from '../models/face-detector';
import { FEATURES, type Feature, type FaceTrueReference } from './face-true';
import type { Prepared } from './render';

/**
 * A photo's Prepared (worker/render.ts) as it is stored beside the photo once it is judged usable
 * (core/photos/render-ready.ts), so an order's first headshot reads it instead of framing and
 * matting again. Bump PREPARED_VERSION whenever prepare()'s output changes (framing, matte,
 * foreground, light, the face-true reference) or this layout does: a stored form of another
 * version, or made for another HEADSHOT_SIZE, is not used and the render prepares on the spot.
 *
 * Layout, little-endian:
 *   magic 'RPRD' | u16 version | u16 0 | u32 headshot size | u32 meta length | meta (JSON) | pad to 4
 *   | raw deflate (level 1) of the typed arrays, each at a 4-byte boundary, in the order the meta lists them
 * The person's colours are stored as their difference from the framed photo (zero away from the
 * matte's edge). The skin mask is not part of a Prepared: each style run draws
 * it from the frame, the five points and the alpha. Deflate pays: measured on the 12-MP selfie, 3.1 MB instead of
 * 12.1 MB for about 15 ms more to read (43-51 ms against 28-63 ms, load 8), less than reading and
 * moving the other 9 MB costs; writing takes 90-150 ms more, once, on the upload side.
 */
export const PREPARED_VERSION = 9;

const MAGIC = 0x44525052; // 'RPRD'
const HEADER = 16;

type Kind = 'u8' | 'f32';
interface Meta {
  frame: Prepared['frame'];
  outside: number;
  reference: Prepared['reference'];
  upscaled: Prepared['upscaled'];
  light: { cast: Prepared['light']['cast']; lift: number };
  truth: Pick<FaceTrueReference, 'iod' | 'at' | 'metrics'>;
  arrays: [name: string, kind: Kind, length: number][];
}

/** How an error from decodePrepared begins: the render falls back to the original. */
export const UNREADABLE = 'prepared form unreadable';

const FEATURE_NAMES = Object.keys(FEATURES) as Feature[];
const align4 = (n: number) => (n + 3) & ~3;

/** The stored form of a Prepared made for headshots `size` pixels wide. */
export function encodePrepared(p: Prepared, size: number): Buffer {
  const person = new Uint8Array(p.person.data.length);
  for (let i = 0; i < person.length; i++) person[i] = p.person.data[i] - p.framed.data[i];
  const arrays: [string, Uint8Array | Float32Array][] = [
    ['framed', p.framed.data],
    ['person', person],
    ['alpha', p.alpha],
    ['background', p.background],
    ['rim', p.light.rim],
  ];
  for (const f of FEATURE_NAMES)
    arrays.push(
      [`window.${f}`, p.truth.windows[f]],
      [`matte.${f}`, p.truth.mattes[f]],
      [`weight.${f}`, p.truth.weights[f]],
    );
  const meta: Meta = {
    frame: p.frame,
    outside: p.outside,
    reference: p.reference,
    upscaled: p.upscaled,
    light: { cast: p.light.cast, lift: p.light.lift },
    truth: { iod: p.truth.iod, at: p.truth.at, metrics: p.truth.metrics },
    arrays: arrays.map(([name, a]) => [name, a instanceof Float32Array ? 'f32' : 'u8', a.length]),
  };
  const body = Buffer.alloc(arrays.reduce((n, [, a]) => n + align4(a.byteLength), 0));
  let at = 0;
  for (const [, a] of arrays) {
    body.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
    at += align4(a.byteLength);
  }
  const json = Buffer.from(JSON.stringify(meta));
  const header = Buffer.alloc(align4(HEADER + json.length));
  header.writeUInt32LE(MAGIC, 0);
  header.writeUInt16LE(PREPARED_VERSION, 4);
  header.writeUInt32LE(size, 8);
  header.writeUInt32LE(json.length, 12);
  json.copy(header, HEADER);
  return Buffer.concat([header, deflateRawSync(body, { level: 1 })]);
}

/** Why a stored form cannot be used, or undefined when it can. */
export function staleReason(bytes: Uint8Array, size: number): string | undefined {
  if (bytes.byteLength < HEADER) return 'not a prepared form';
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint32(0, true) !== MAGIC) return 'not a prepared form';
  const version = v.getUint16(4, true);
  if (version !== PREPARED_VERSION) return `version ${version}, not ${PREPARED_VERSION}`;
  const made = v.getUint32(8, true);
  if (made !== size) return `made for ${made}-px headshots, not ${size}`;
  return undefined;
}

/**
 * A Prepared from its stored form (check staleReason first). Its planes are views of one buffer;
 * the person's colours are rebuilt in place. Throws on a truncated form.
 */
export function decodePrepared(bytes: Uint8Array): Prepared {
  const t = performance.now();
  const metaLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(12, true);
  const meta = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + HEADER, metaLength).toString()) as Meta;
  let raw: Uint8Array;
  try {
    // One output chunk of the known size: no growing chunks to join (a copy of 12 MB).
    const length = meta.arrays.reduce((n, [, kind, l]) => n + align4(kind === 'f32' ? l * 4 : l), 0);
    raw = inflateRawSync(bytes.subarray(align4(HEADER + metaLength)), { chunkSize: Math.max(64, length) });
  } catch (err) {
    throw new Error(`${UNREADABLE}: ${(err as Error).message}`);
  }
  // Float32 views need a 4-aligned start: copy once when the body does not begin on one.
  const body = raw.byteOffset % 4 ? new Uint8Array(raw) : raw;
  const arrays = new Map<string, Uint8Array | Float32Array>();
  let at = body.byteOffset;
  for (const [name, kind, length] of meta.arrays) {
    const bytesLong = kind === 'f32' ? length * 4 : length;
    if (at + bytesLong > body.byteOffset + body.byteLength) throw new Error(`${UNREADABLE}: truncated`);
    arrays.set(
      name,
      kind === 'f32' ? new Float32Array(body.buffer, at, length) : new Uint8Array(body.buffer, at, length),
    );
    at += align4(bytesLong);
  }
  const u8 = (name: string) => arrays.get(name) as Uint8Array;
  const f32 = (name: string) => arrays.get(name) as Float32Array;
  const { frame, reference } = meta;
  const image = (data: Uint8Array): RgbImage => ({ data, width: frame.width, height: frame.height });
  const framed = image(u8('framed'));
  // The person's colours in place of their stored difference.
  const person = u8('person');
  for (let i = 0; i < person.length; i++) person[i] += framed.data[i];
  const alpha = u8('alpha');
  const perFeature = (prefix: string) =>
    Object.fromEntries(FEATURE_NAMES.map((f) => [f, f32(`${prefix}.${f}`)])) as Record<Feature, Float32Array>;
  return {
    frame,
    framed,
    person: image(person),
    alpha,
    background: u8('background'),
    light: { ...meta.light, rim: u8('rim') },
    outside: meta.outside,
    reference,
    truth: {
      ...meta.truth,
      windows: perFeature('window'),
      mattes: perFeature('matte'),
      weights: perFeature('weight'),
    },
    upscaled: meta.upscaled,
    timings: { readPrepared: performance.now() - t },
  };
}

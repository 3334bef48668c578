import { crc32, createDeflate } from 'node:zlib';
import sharp from 'sharp';
import type { AppContext } from '../../core/platform/context';
import { jobId } from '../../core/platform/jobs';
import { countJobs } from './jobs';

/**
 * Hostile upload cases for POST /v1/photos, shared by the fuzz script and the integration test:
 * mutated JPEG/PNG/WebP, polyglots, decompression bombs, disguised SVG/HTML, empty files, lying
 * multipart headers and absurd dimensions. Deterministic for a seed; each case is a raw multipart
 * body so part headers can lie in ways FormData refuses to.
 */

export interface HostileCase {
  kind: string;
  /** Complete request body and the request's Content-Type header. */
  body: Buffer;
  contentType: string;
  /** The filename the part claims, to check it never reaches a key or a row. */
  filename: string;
}

export interface Bases {
  jpeg: Buffer;
  png: Buffer;
  webp: Buffer;
  /** A 1x1 PNG whose IHDR says 30000x30000 (CRC fixed): declared pixels only. */
  tinyBomb: Buffer;
  /** A real, highly compressible 12000x12000 grey PNG (~150 kB on the wire, 144 Mpx decoded). */
  bigBomb: Buffer;
}

/** Small bases keep each accepted case cheap to decode; the astronaut is the seed picture. */
export async function makeBases(astronautPng: Buffer, side = 96): Promise<Bases> {
  const small = sharp(astronautPng).resize(side, side);
  const png = await small.clone().png().toBuffer();
  const tiny = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } })
    .png()
    .toBuffer();
  return {
    jpeg: await small.clone().jpeg({ quality: 80 }).toBuffer(),
    png,
    webp: await small.clone().webp({ quality: 70 }).toBuffer(),
    tinyBomb: patchPngIhdr(tiny, 30000, 30000),
    bigBomb: await greyPng(12000, 12000),
  };
}

/** Mulberry32: a tiny seeded generator, so a failing case can be replayed from its index. */
export function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  return { next, int, pick, bytes };
}
export type Rng = ReturnType<typeof rng>;

// ---- format surgery ------------------------------------------------------------------------

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** Offsets of PNG chunks: [offset of length field, data length, type]. */
function pngChunks(png: Buffer): { at: number; len: number; type: string }[] {
  const out: { at: number; len: number; type: string }[] = [];
  let at = 8;
  while (at + 8 <= png.length) {
    const len = png.readUInt32BE(at);
    out.push({ at, len, type: png.toString('latin1', at + 4, at + 8) });
    at += 12 + len;
  }
  return out;
}

export function patchPngIhdr(png: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(png);
  out.writeUInt32BE(width >>> 0, 16);
  out.writeUInt32BE(height >>> 0, 20);
  out.writeUInt32BE(crc32(out.subarray(12, 29)), 29);
  return out;
}

async function greyPng(width: number, height: number): Promise<Buffer> {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const row = Buffer.alloc(width + 1, 0x80);
  row[0] = 0; // filter: none
  // Streamed so the 144 MB of raw rows never exist at once.
  const deflate = createDeflate({ level: 9 });
  const parts: Buffer[] = [];
  deflate.on('data', (c: Buffer) => parts.push(c));
  const done = new Promise((r) => deflate.on('end', r));
  for (let y = 0; y < height; y++) if (!deflate.write(row)) await new Promise((r) => deflate.once('drain', r));
  deflate.end();
  await done;
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([
    sig,
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', Buffer.concat(parts)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** JPEG segments with a 2-byte length, up to start of scan: [offset of marker, marker]. */
function jpegSegments(jpg: Buffer): { at: number; marker: number }[] {
  const out: { at: number; marker: number }[] = [];
  let at = 2;
  while (at + 4 <= jpg.length && jpg[at] === 0xff) {
    const marker = jpg[at + 1];
    out.push({ at, marker });
    if (marker === 0xda) break;
    at += 2 + jpg.readUInt16BE(at + 2);
  }
  return out;
}

function patchJpegSof(jpg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpg);
  const sof = jpegSegments(out).find(
    (s) => s.marker >= 0xc0 && s.marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(s.marker),
  );
  if (sof) {
    out.writeUInt16BE(height & 0xffff, sof.at + 5);
    out.writeUInt16BE(width & 0xffff, sof.at + 7);
  }
  return out;
}

// ---- mutations -----------------------------------------------------------------------------

type Mutation = (r: Rng, b: Buffer, type: 'jpeg' | 'png' | 'webp') => Buffer;

const bitFlips: Mutation = (r, b) => {
  const out = Buffer.from(b);
  const n = 1 + r.int(32);
  for (let i = 0; i < n; i++) {
    const at = r.int(out.length);
    out[at] ^= 1 << r.int(8);
  }
  return out;
};
const truncate: Mutation = (r, b) => b.subarray(0, r.int(b.length));
const insertChunk: Mutation = (r, b, type) => {
  const at = r.int(b.length);
  const junk =
    type === 'png' && r.next() < 0.5
      ? pngChunk(r.pick(['tEXt', 'zTXt', 'iCCP', 'IDAT', 'eXIf', 'xxxx']), r.bytes(r.int(300)))
      : r.bytes(1 + r.int(400));
  return Buffer.concat([b.subarray(0, at), junk, b.subarray(at)]);
};
const removeRange: Mutation = (r, b) => {
  const at = r.int(b.length);
  return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + r.int(512)))]);
};
const corruptLength: Mutation = (r, b, type) => {
  const out = Buffer.from(b);
  const evil = r.pick([0, 1, 0xffff, 0x7fffffff, 0xffffffff, r.int(0xffffffff)]);
  if (type === 'png') {
    const c = r.pick(pngChunks(out));
    if (c) out.writeUInt32BE(evil >>> 0, c.at);
  } else if (type === 'jpeg') {
    const s = r.pick(jpegSegments(out));
    if (s) out.writeUInt16BE(evil & 0xffff, s.at + 2);
  } else {
    // RIFF size, or the first sub-chunk's size.
    out.writeUInt32LE(evil >>> 0, r.next() < 0.5 ? 4 : 16);
  }
  return out;
};
const absurdDimensions: Mutation = (r, b, type) => {
  const w = r.pick([0, 1, 65535, 30000, 0x7fffffff, 0xffffffff]);
  const h = r.pick([0, 1, 65535, 30000, 0x7fffffff, 0xffffffff]);
  if (type === 'png') return patchPngIhdr(b, w, h);
  if (type === 'jpeg') return patchJpegSof(b, w, h);
  const out = Buffer.from(b);
  // VP8 key frame: 14-bit width and height after the 3-byte start code at 26.
  if (out.toString('latin1', 12, 16) === 'VP8 ' && out.length > 30) {
    out.writeUInt16LE(w & 0x3fff, 26);
    out.writeUInt16LE(h & 0x3fff, 28);
  }
  return out;
};
const MUTATIONS: Record<string, Mutation> = {
  bitFlips,
  truncate,
  insertChunk,
  removeRange,
  corruptLength,
  absurdDimensions,
};

// A minimal ZIP local header + end of central directory: enough for unzip tools to notice.
const ZIP = Buffer.concat([
  Buffer.from('PK\x03\x04\x14\x00\x00\x00\x00\x00', 'latin1'),
  Buffer.alloc(16),
  Buffer.from('\x05\x00\x00\x00evil.', 'latin1'),
  Buffer.from('PK\x05\x06', 'latin1'),
  Buffer.alloc(18),
]);
const HTML = Buffer.from('<html><body><script>alert(document.cookie)</script></body></html>');
const SVG = Buffer.from(
  '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="alert(1)"><script>alert(1)</script></svg>',
);

const NAMES = [
  'selfie.jpg',
  'photo.png',
  'me.webp',
  '../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '/etc/shadow',
  'a.jpg\r\nX-Injected: yes',
  'a.jpg"; name="evil',
  `${'x'.repeat(2000)}.jpg`,
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '\u202egpj.exe',
  'nul\u0000.jpg',
  '',
];
const TYPES = [
  'image/jpeg',
  'image/png',
  'image/webp',
  'image/svg+xml',
  'text/html',
  'application/octet-stream',
  'application/x-msdownload',
  'image/jpeg\r\nX-Injected: yes',
  '',
];

/** One multipart body; the filename and type go in raw, CRLFs and quotes included. */
export function multipartBody(
  parts: { name: string; filename?: string; type?: string; data: Buffer }[],
  boundary = 'hostileBoundary7MA4YWxk',
): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"`;
    if (p.filename !== undefined) head += `; filename="${p.filename}"`;
    head += '\r\n';
    if (p.type) head += `Content-Type: ${p.type}\r\n`;
    chunks.push(Buffer.from(`${head}\r\n`, 'latin1'), p.data, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

const BOUNDARY = 'hostileBoundary7MA4YWxk';

/** The case at index i for a seed: the same pair always gives the same bytes. */
export function hostileCase(bases: Bases, seed: number, i: number): HostileCase {
  const r = rng(seed * 1_000_003 + i);
  const filename = r.next() < 0.6 ? r.pick(NAMES.slice(0, 3)) : r.pick(NAMES);
  const claimed = r.pick(TYPES);
  const roll = r.next();
  let kind: string;
  let data: Buffer;
  if (roll < 0.7) {
    const type = r.pick(['jpeg', 'png', 'webp'] as const);
    const name = r.pick(Object.keys(MUTATIONS));
    kind = `${type}.${name}`;
    data = MUTATIONS[name](r, bases[type], type);
    // Sometimes stack two mutations.
    if (r.next() < 0.2) data = MUTATIONS[r.pick(Object.keys(MUTATIONS))](r, data, type);
  } else if (roll < 0.78) {
    const type = r.pick(['jpeg', 'png', 'webp'] as const);
    const tail = r.pick([
      ['zip', ZIP],
      ['html', HTML],
      ['svg', SVG],
    ] as const);
    kind = `polyglot.${type}+${tail[0]}`;
    data = Buffer.concat([bases[type], tail[1]]);
  } else if (roll < 0.82) {
    const big = r.next() < 0.3;
    kind = big ? 'bomb.png12000' : 'bomb.png30000';
    data = big ? bases.bigBomb : bases.tinyBomb;
  } else if (roll < 0.88) {
    kind = r.pick(['disguised.svg', 'disguised.html', 'disguised.svgWithPngMagic']);
    data =
      kind === 'disguised.svg'
        ? SVG
        : kind === 'disguised.html'
          ? HTML
          : Buffer.concat([bases.png.subarray(0, 8), SVG]);
  } else if (roll < 0.91) {
    kind = 'empty';
    data = Buffer.alloc(0);
  } else if (roll < 0.94) {
    kind = 'random';
    data = r.bytes(r.int(2048));
  } else {
    // Valid images with lying or broken multipart framing.
    const type = r.pick(['jpeg', 'png', 'webp'] as const);
    const lie = r.pick([
      'wrongField',
      'noFilename',
      'twoFiles',
      'badBoundary',
      'noBoundary',
      'unterminated',
      'minorNoAttestation',
      'hugeField',
    ]);
    kind = `multipart.${lie}`;
    const file = { name: 'photo', filename, type: claimed, data: bases[type] };
    const body =
      lie === 'wrongField'
        ? multipartBody([{ ...file, name: 'image' }])
        : lie === 'noFilename'
          ? multipartBody([{ ...file, filename: undefined }])
          : lie === 'twoFiles'
            ? multipartBody([file, { ...file, data: SVG }])
            : lie === 'minorNoAttestation'
              ? multipartBody([{ name: 'subject', data: Buffer.from('minor') }, file])
              : lie === 'hugeField'
                ? multipartBody([{ name: 'subject', data: Buffer.alloc(100_000, 0x41) }, file])
                : lie === 'unterminated'
                  ? multipartBody([file]).subarray(0, 200 + r.int(bases[type].length))
                  : multipartBody([file]);
    const contentType =
      lie === 'badBoundary'
        ? 'multipart/form-data; boundary=notTheBoundary'
        : lie === 'noBoundary'
          ? 'multipart/form-data'
          : `multipart/form-data; boundary=${BOUNDARY}`;
    return { kind, body, contentType, filename };
  }
  return {
    kind,
    body: multipartBody([{ name: 'photo', filename, type: claimed, data }], BOUNDARY),
    contentType: `multipart/form-data; boundary=${BOUNDARY}`,
    filename,
  };
}

/** Request outcomes, keyed "status code" (e.g. "422 corrupt_image"), for the report. */
export type Tally = Map<string, number>;
export const bump = (t: Tally, key: string) => t.set(key, (t.get(key) ?? 0) + 1);

export interface Outcome {
  ok: boolean;
  key: string;
  status: number;
  photoId?: string;
  why?: string;
}

/**
 * Sends one case and judges the answer: a 201 with a photo id, or a 4xx problem+json with a code.
 * Anything else (5xx, no code, a timeout, a reset connection) is a failure.
 */
export async function sendCase(url: string, token: string, c: HostileCase, timeoutMs = 10_000): Promise<Outcome> {
  try {
    const res = await fetch(`${url}/v1/photos`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': c.contentType },
      body: new Uint8Array(c.body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const type = res.headers.get('content-type') ?? '';
    const text = await res.text();
    const json = (() => {
      try {
        return JSON.parse(text) as { id?: string; code?: string };
      } catch {
        return undefined;
      }
    })();
    if (res.status === 201 && json?.id) return { ok: true, key: '201 created', status: 201, photoId: json.id };
    const code = json?.code;
    const key = `${res.status} ${code ?? '(no code)'}`;
    if (res.status >= 400 && res.status < 500 && code && type.startsWith('application/problem+json'))
      return { ok: true, key, status: res.status };
    return { ok: false, key, status: res.status, why: text.slice(0, 200) };
  } catch (err) {
    const e = err as Error;
    return { ok: false, key: `error ${e.name}`, status: 0, why: e.message };
  }
}

/** Runs fn over 0..n-1 with at most `width` in flight. */
export async function pool(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/**
 * What must hold after a run for the given people: one photo row per 201, one blob per photo, one
 * object per blob and no other object (no orphan), one photo.prepare job per photo and no other, and no claimed filename
 * anywhere in a row or a key. Returns the figures and a list of violations (empty when all hold).
 */
export async function uploadInvariants(ctx: AppContext, userIds: string[], createdIds: string[]) {
  const photos = await ctx.db.selectFrom('photos').selectAll().where('user_id', 'in', userIds).execute();
  const blobs = await ctx.db.selectFrom('blobs').selectAll().where('user_id', 'in', userIds).execute();
  const keys = [...(await ctx.storage.listKeys('originals')), ...(await ctx.storage.listKeys('headshots'))];
  const jobs = await countJobs(ctx.queues);
  const problems: string[] = [];
  const ids = new Set(photos.map((p) => p.id));
  const missing = createdIds.filter((id) => !ids.has(id));
  if (missing.length) problems.push(`${missing.length} answered 201 without a photo row (e.g. ${missing[0]})`);
  if (photos.length !== createdIds.length)
    problems.push(`photos rows ${photos.length} != 201 answers ${createdIds.length}`);
  if (blobs.length !== photos.length) problems.push(`blobs rows ${blobs.length} != photos rows ${photos.length}`);
  if (keys.length !== blobs.length) problems.push(`bucket objects ${keys.length} != blobs rows ${blobs.length}`);
  const keySet = new Set(keys);
  const noObject = blobs.filter((b) => !keySet.has(b.object_key));
  if (noObject.length) problems.push(`${noObject.length} blob rows without an object`);
  // Each accepted upload enqueues exactly its preparation job (fixed id) and nothing else.
  if (jobs !== photos.length)
    problems.push(`${jobs} jobs for ${photos.length} accepted uploads (one photo.prepare each expected)`);
  for (const p of photos) {
    const job = await ctx.queues.byName.preparation.getJob(jobId('prepare', p.id));
    if (job?.name !== 'photo.prepare') problems.push(`photo ${p.id} has no photo.prepare job`);
  }
  const bad = keys.filter((k) => !/^(originals|headshots)\/[A-Za-z0-9_-]{2}\/[A-Za-z0-9_-]+$/.test(k));
  if (bad.length) problems.push(`object keys not server-made: ${JSON.stringify(bad.slice(0, 3))}`);
  const text = JSON.stringify({ photos, blobs: blobs.map((b) => ({ ...b, dek: null })) });
  for (const needle of ['passwd', 'X-Injected', 'win.ini', 'shadow', '..'])
    if (text.includes(needle)) problems.push(`"${needle}" reached a stored row`);
  return { photos: photos.length, blobs: blobs.length, objects: keys.length, jobs, problems };
}

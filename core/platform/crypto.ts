import {
  createCipheriv,
  createDecipheriv,
  type DecipherGCM,
  createHash,
  createHmac,
  randomBytes,
  randomInt,
  timingSafeEqual,
} from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * AES-256-GCM everywhere: PII fields in the database (SC2) and photo objects in the store (SC1).
 * Keys come as a keyring "id:hex,id:hex": the first encrypts, every one decrypts, so a new key can
 * be put in front and old data re-wrapped at leisure.
 */

export interface Keyring {
  current: { id: string; key: Buffer };
  byId: Map<string, Buffer>;
}

export function parseKeyring(spec: string): Keyring {
  const byId = new Map<string, Buffer>();
  for (const part of spec.split(',')) {
    const [id, hex] = part.split(':');
    byId.set(id, Buffer.from(hex, 'hex'));
  }
  const [firstId] = spec.split(':');
  return { current: { id: firstId, key: byId.get(firstId)! }, byId };
}

function keyFor(ring: Keyring, kid: string): Buffer {
  const key = ring.byId.get(kid);
  if (!key) throw new Error(`no key with id ${kid} in the keyring`);
  return key;
}

const IV = 12;
const TAG = 16;

function seal(key: Buffer, plain: Buffer): Buffer {
  const iv = randomBytes(IV);
  const c = createCipheriv('aes-256-gcm', key, iv);
  // One copy into the result: a 5 MB photo made three 5 MB buffers before (GC time on uploads).
  const body = c.update(plain);
  const tail = c.final();
  return Buffer.concat([iv, body, tail, c.getAuthTag()], IV + body.length + tail.length + TAG);
}

function open(key: Buffer, sealed: Buffer): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV));
  d.setAuthTag(sealed.subarray(sealed.length - TAG));
  const body = d.update(sealed.subarray(IV, sealed.length - TAG));
  const tail = d.final(); // GCM is a stream mode: empty, but final() checks the tag
  return tail.length ? Buffer.concat([body, tail]) : body;
}

/** A database field: "v1.<kid>.<base64 iv|ciphertext|tag>". */
export function encryptField(ring: Keyring, plain: string): string {
  return `v1.${ring.current.id}.${seal(ring.current.key, Buffer.from(plain, 'utf8')).toString('base64')}`;
}

export function decryptField(ring: Keyring, field: string): string {
  const [, kid, body] = field.split('.');
  return open(keyFor(ring, kid), Buffer.from(body, 'base64')).toString('utf8');
}

export function fieldKeyId(field: string): string {
  return field.split('.')[1];
}

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Keyed hash of the normalised email, for look-up and uniqueness without storing it in clear. */
export function emailLookupHash(hashKeyHex: string, email: string): string {
  return createHmac('sha256', Buffer.from(hashKeyHex, 'hex')).update(normaliseEmail(email)).digest('hex');
}

/** A six-digit code a person types from an email (sign-in, email change). */
export function newOneTimeCode(): string {
  return String(randomInt(0, 1_000_000)).padStart(6, '0');
}

/**
 * The stored form of a one-time code: an HMAC under a key derived from PII_HASH_KEY, bound to what the code is for.
 * A plain hash would not do: all million six-digit codes are hashed in under a second, so a
 * database dump would hand over every live code; without the key the dump tells nothing.
 */
export function oneTimeCodeHash(
  hashKeyHex: string,
  purpose: 'sign-in' | 'email-change',
  code: string,
  ...boundTo: string[]
): string {
  // A key of its own, derived from PII_HASH_KEY, so these hashes and the email look-ups never share one.
  const codeKey = createHmac('sha256', Buffer.from(hashKeyHex, 'hex')).update('rasmi/one-time-codes/v1').digest();
  return createHmac('sha256', codeKey)
    .update([purpose, ...boundTo, code].join('\0'))
    .digest('hex');
}

/** Per-object data key, wrapped by the current master key. */
export function newDataKey(ring: Keyring): { dek: Buffer; wrapped: Buffer; kid: string } {
  const dek = randomBytes(32);
  return { dek, wrapped: seal(ring.current.key, dek), kid: ring.current.id };
}

export function unwrapDataKey(ring: Keyring, kid: string, wrapped: Buffer): Buffer {
  return open(keyFor(ring, kid), wrapped);
}

/** Key rotation (SC1): the same data key, wrapped by the current master key; the object is untouched. */
export function rewrapDataKey(ring: Keyring, kid: string, wrapped: Buffer): { wrapped: Buffer; kid: string } {
  return { wrapped: seal(ring.current.key, unwrapDataKey(ring, kid, wrapped)), kid: ring.current.id };
}

/** Encrypts a whole buffer for the object store: iv | ciphertext | tag. */
export function encryptObject(dek: Buffer, plain: Buffer): Buffer {
  return seal(dek, plain);
}

export function decryptObject(dek: Buffer, sealed: Buffer): Buffer {
  return open(dek, sealed);
}

/** Encrypts a stream into the object format, iv | ciphertext | tag, as encryptObject does a buffer. */
export function encryptingStream(dek: Buffer): Transform {
  const iv = randomBytes(IV);
  const cipher = createCipheriv('aes-256-gcm', dek, iv);
  let started = false;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      const body = cipher.update(chunk);
      if (started) return cb(null, body);
      started = true;
      cb(null, Buffer.concat([iv, body]));
    },
    flush(cb: TransformCallback) {
      const tail = cipher.final();
      cb(null, Buffer.concat([started ? Buffer.alloc(0) : iv, tail, cipher.getAuthTag()]));
    },
  });
}

/** Streams iv | ciphertext | tag back to plaintext, holding back the last 16 bytes for the tag. */
export function decryptingStream(dek: Buffer): Transform {
  let head = Buffer.alloc(0);
  let decipher: DecipherGCM | undefined;
  let tail = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      if (!decipher) {
        head = Buffer.concat([head, chunk]);
        if (head.length < IV) return cb();
        decipher = createDecipheriv('aes-256-gcm', dek, head.subarray(0, IV));
        chunk = head.subarray(IV);
      }
      const data = Buffer.concat([tail, chunk]);
      const keep = Math.min(TAG, data.length);
      tail = data.subarray(data.length - keep);
      cb(null, decipher.update(data.subarray(0, data.length - keep)));
    },
    flush(cb: TransformCallback) {
      try {
        if (!decipher || tail.length < TAG) throw new Error('encrypted object is truncated');
        decipher.setAuthTag(tail);
        cb(null, decipher.final());
      } catch (err) {
        cb(err as Error);
      }
    },
  });
}

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Opaque, roughly time-ordered ids: prefix, 10 chars of time, 16 of randomness (base32). */
const B32 = '0123456789abcdefghjkmnpqrstvwxyz';
/** What newId(prefix) makes, as a regular expression: the prefix, "_", 26 characters of B32 (time, then random). */
export const idPattern = (prefix: string): RegExp => new RegExp(`^${prefix}_[${B32}]{26}$`);

export function newId(prefix: string): string {
  let t = Date.now();
  let time = '';
  for (let i = 0; i < 10; i++) {
    time = B32[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const rnd = randomBytes(16);
  let r = '';
  for (let i = 0; i < 16; i++) r += B32[rnd[i] % 32];
  return `${prefix}_${time}${r}`;
}

/** An HMAC-signed, expiring token "base64url(json).base64url(sig)" for one purpose. */
export function signToken(secret: string, purpose: string, payload: Record<string, unknown>): string {
  const body = Buffer.from(JSON.stringify({ ...payload, p: purpose })).toString('base64url');
  const sig = createHmac('sha256', secret).update(body).digest('base64url');
  return `${body}.${sig}`;
}

export function verifyToken<T extends Record<string, unknown>>(
  secret: string,
  purpose: string,
  token: string,
): T | null {
  const [body, sig] = token.split('.');
  if (!body || !sig) return null;
  const expected = createHmac('sha256', secret).update(body).digest('base64url');
  if (!safeEqual(sig, expected)) return null;
  try {
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as T & { p?: string };
    return payload.p === purpose ? payload : null;
  } catch {
    return null;
  }
}

import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client } from 'minio';
import type { Config } from './config';
import {
  decryptingStream,
  decryptObject,
  encryptingStream,
  encryptObject,
  newDataKey,
  newId,
  sha256Hex,
  unwrapDataKey,
  type Keyring,
} from './crypto';
import type { Blob, Db } from './db';

export type BucketRole = 'originals' | 'headshots';

/**
 * Marks a failure of the object store, so the API answers storage_unavailable: a socket error
 * alone (ECONNRESET, no port) does not say whether Postgres or S3 went away.
 */
export async function fromStorage<T>(op: Promise<T>): Promise<T> {
  try {
    return await op;
  } catch (err) {
    if (err && typeof err === 'object') (err as { dependency?: string }).dependency = 'storage';
    throw err;
  }
}

/** Spool folders under the temporary directory: `rasmi-spool-<random>`, mode 0700 (mkdtemp). */
const SPOOL_PREFIX = 'rasmi-spool-';

/**
 * Removes spool folders a killed process left behind (putStream removes its own), untouched for
 * `olderThanMs`, so that a live upload of another process sharing the directory is left alone.
 */
export async function sweepStaleSpools(olderThanMs: number, now = Date.now()): Promise<number> {
  let removed = 0;
  for (const name of await readdir(os.tmpdir()).catch(() => [] as string[])) {
    if (!name.startsWith(SPOOL_PREFIX)) continue;
    const dir = path.join(os.tmpdir(), name);
    const info = await stat(dir).catch(() => undefined);
    if (info && now - info.mtimeMs > olderThanMs) {
      await rm(dir, { recursive: true, force: true });
      removed++;
    }
  }
  return removed;
}

/** Who and what a new object is for. */
interface NewObject {
  /** The owner whose deletion removes it; null for an organisation's own objects (a logo). */
  userId: string | null;
  role: BucketRole;
  contentType: string;
  at: Date;
}

/** An object in the store whose blob row is not written yet (Storage.upload). */
export interface Uploaded extends NewObject {
  id: string;
  bucket: string;
  objectKey: string;
  /** The data key, wrapped by the master key `kid`. */
  dek: Buffer;
  kid: string;
  size: number;
}

/**
 * Server-made object keys: role, a two-character shard from the id's random tail (1,024 of them,
 * so no folder grows huge on file-backed stores), and the blob id. Never a name or an email.
 */
export function objectKeyFor(role: BucketRole, blobId: string): string {
  return `${role}/${blobId.slice(-2)}/${blobId}`;
}

/**
 * The object store. Objects hold only ciphertext (SC1): each gets its own data key, wrapped by the
 * master key and kept in the blobs row, so the bucket alone reveals no image and a key rotation
 * re-wraps rows without re-uploading objects. Keys are server-made and carry no name or email.
 */
export class Storage {
  readonly client: Client;
  readonly buckets: Record<BucketRole, string>;
  private readonly region: string;

  constructor(
    config: Pick<
      Config,
      'S3_ACCESS_KEY' | 'S3_SECRET_KEY' | 'S3_REGION' | 'S3_BUCKET_ORIGINALS' | 'S3_BUCKET_HEADSHOTS'
    > & { endpoint: string },
    private readonly ring: Keyring,
  ) {
    const url = new URL(config.endpoint);
    this.client = new Client({
      endPoint: url.hostname,
      port: url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80,
      useSSL: url.protocol === 'https:',
      accessKey: config.S3_ACCESS_KEY,
      secretKey: config.S3_SECRET_KEY,
      region: config.S3_REGION,
      pathStyle: true,
      // Streams over one part go up in parts of this size, and the client holds up to about three
      // parts at once (measured: 232 MB with its 64 MB default). 32 MB keeps every original (25 MB
      // cap) a single PUT and a large export's upload near 100 MB of memory.
      partSize: 32 * 1024 * 1024,
    });
    this.region = config.S3_REGION;
    this.buckets = { originals: config.S3_BUCKET_ORIGINALS, headshots: config.S3_BUCKET_HEADSHOTS };
  }

  async ensureBuckets(): Promise<void> {
    for (const bucket of Object.values(this.buckets)) {
      if (!(await fromStorage(this.client.bucketExists(bucket))))
        await fromStorage(this.client.makeBucket(bucket, this.region));
    }
  }

  async ping(): Promise<void> {
    await fromStorage(this.client.bucketExists(this.buckets.originals));
  }

  /**
   * Encrypts and uploads, then records the blob row in the caller's transaction. If the caller's
   * transaction fails afterwards, it must call remove() so no orphan object stays behind.
   */
  async put(db: Db, input: NewObject & { data: Buffer }): Promise<Blob> {
    return this.record(db, await this.upload(input));
  }

  /**
   * put() in two steps, for a caller that writes the blob row with its own rows in one short
   * transaction (no database connection held during the upload): the object, encrypted and
   * stored, and what its row needs. If the row does not commit, the caller removes the object.
   */
  async upload(input: NewObject & { data: Buffer }): Promise<Uploaded> {
    const { dek, wrapped, kid } = newDataKey(this.ring);
    const at = this.placeFor(input.role);
    await this.putBody(at.bucket, at.objectKey, encryptObject(dek, input.data));
    return { ...input, ...at, dek: wrapped, kid, size: input.data.length };
  }

  /** The blob row of an uploaded object, in the caller's database or transaction. */
  async recordUploaded(db: Db, u: Uploaded): Promise<Blob> {
    return db
      .insertInto('blobs')
      .values({
        id: u.id,
        user_id: u.userId,
        bucket: u.bucket,
        object_key: u.objectKey,
        dek: u.dek,
        kid: u.kid,
        content_type: u.contentType,
        size_bytes: u.size,
        created_at: u.at,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /**
   * put() for content of unknown length (data exports): the stream is encrypted into a spool file,
   * then uploaded from it with its length known, so the S3 client sends bounded parts and memory
   * holds a few parts (32 MB each) whatever the size. The spool holds ciphertext only and is always
   * removed. On any failure the source is destroyed (its producer stops) and no object is left:
   * an unfinished multipart upload is aborted.
   */
  async putStream(db: Db, { source, ...input }: NewObject & { source: Readable }): Promise<Blob> {
    const { dek, wrapped, kid } = newDataKey(this.ring);
    const at = this.placeFor(input.role);
    let dir: string | undefined;
    let upload: Readable | undefined;
    let size = 0;
    try {
      dir = await mkdtemp(path.join(os.tmpdir(), SPOOL_PREFIX));
      const spool = path.join(dir, 'object');
      const count = new Transform({
        transform: (chunk: Buffer, _enc, cb) => {
          size += chunk.length;
          cb(null, chunk);
        },
      });
      await pipeline(source, count, encryptingStream(dek), createWriteStream(spool, { mode: 0o600 }));
      upload = createReadStream(spool);
      try {
        await fromStorage(
          this.client.putObject(at.bucket, at.objectKey, upload, (await stat(spool)).size, {
            'Content-Type': 'application/octet-stream',
          }),
        );
      } catch (err) {
        await this.client.removeIncompleteUpload(at.bucket, at.objectKey).catch(() => {});
        throw err;
      }
    } catch (err) {
      source.destroy(err as Error);
      throw err;
    } finally {
      upload?.destroy(); // an upload that failed part-way leaves it open, holding the unlinked file's space
      if (dir) await rm(dir, { recursive: true, force: true });
    }
    return this.record(db, { ...input, ...at, dek: wrapped, kid, size });
  }

  private placeFor(role: BucketRole): { id: string; bucket: string; objectKey: string } {
    const id = newId('blob');
    return { id, bucket: this.buckets[role], objectKey: objectKeyFor(role, id) };
  }

  /** The blob row of an uploaded object; if it cannot be written, the object goes too. */
  private async record(db: Db, u: Uploaded): Promise<Blob> {
    try {
      return await this.recordUploaded(db, u);
    } catch (err) {
      await this.client.removeObject(u.bucket, u.objectKey).catch(() => {});
      throw err;
    }
  }

  /**
   * Overwrites a blob's object in place with new content under the blob's own data key (fresh IV),
   * so the wrapped key in the row stays valid for the old and the new object alike: a crash between
   * this PUT and the caller's row update leaves a readable object, never an orphan or a lost one.
   * The caller records the new size and type.
   */
  async replace(blob: Blob, data: Buffer): Promise<void> {
    await this.putBody(blob.bucket, blob.object_key, encryptObject(unwrapDataKey(this.ring, blob.kid, blob.dek), data));
  }

  /**
   * One PUT of a whole sealed body. Not putObject: for a Buffer it also takes an MD5 of the body,
   * which over HTTP nobody reads (the SigV4 signature already covers the body's SHA-256; over
   * HTTPS the client sends UNSIGNED-PAYLOAD and TLS carries it): 7.7 ms of a 5 MB upload.
   * Reads check every object anyway, by its GCM tag.
   */
  private async putBody(bucket: string, objectKey: string, body: Buffer): Promise<void> {
    const headers = { 'content-length': String(body.length), 'content-type': 'application/octet-stream' };
    const res = await fromStorage(
      this.client.makeRequestStreamAsync(
        { method: 'PUT', bucketName: bucket, objectName: objectKey, headers },
        body,
        this.client.enableSHA256 ? sha256Hex(body) : '',
        [200],
        '',
      ),
    );
    res.resume(); // the answer has no body worth reading; drain it so the socket is reused
  }

  async read(blob: Blob): Promise<Buffer> {
    const stream = await fromStorage(this.client.getObject(blob.bucket, blob.object_key));
    const chunks: Buffer[] = [];
    await fromStorage(
      (async () => {
        for await (const chunk of stream) chunks.push(chunk as Buffer);
      })(),
    );
    return decryptObject(unwrapDataKey(this.ring, blob.kid, blob.dek), Buffer.concat(chunks));
  }

  /** Decrypting stream of the object, for downloads; a tampered object errors at the end. */
  async stream(blob: Blob): Promise<Readable> {
    const dek = unwrapDataKey(this.ring, blob.kid, blob.dek);
    const source = await fromStorage(this.client.getObject(blob.bucket, blob.object_key));
    const out = decryptingStream(dek);
    source.on('error', (err) => out.destroy(err));
    return source.pipe(out);
  }

  /** Removes the object; the caller deletes the row (after, so a failure leaves a row to retry). */
  async removeObject(blob: Pick<Blob, 'bucket' | 'object_key'>): Promise<void> {
    await fromStorage(this.client.removeObject(blob.bucket, blob.object_key));
  }

  async remove(db: Db, blob: Blob): Promise<void> {
    await this.removeObject(blob);
    await db.deleteFrom('blobs').where('id', '=', blob.id).execute();
  }

  /** Every object key in a bucket (tests and the compliance report use it to find orphans). */
  async listKeys(role: BucketRole): Promise<string[]> {
    const keys: string[] = [];
    // ListObjects v1: the local S3 server's v2 continuation tokens fail under OpenSSL 3 past 1,000 keys.
    for await (const item of this.client.listObjects(this.buckets[role], '', true)) {
      if ('name' in item && item.name) keys.push(item.name);
    }
    return keys;
  }
}

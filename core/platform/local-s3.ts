import { rm } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import S3rver from '@20minutes/s3rver';

interface KoaContext {
  method: string;
  path: string;
  query: Record<string, unknown>;
  type: string;
  body: unknown;
  res: ServerResponse;
}
type Middleware = (ctx: KoaContext, next: () => Promise<void>) => unknown;
interface FileStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  deleteObject(bucket: string, key: string): Promise<void>;
}

/**
 * Per-object reader-writer locks. S3 and MinIO swap whole objects; s3rver's file store writes an
 * object's content, checksum and metadata files in place one after another, so a read during a
 * write of the same key could see a torn object (a photo read while its preparation writes it back
 * failed its GCM tag), a length that is not the file's, or half a metadata file (a 500). Reads of a
 * key share it; a write or delete has it alone until its response is finished.
 */
function objectLocks(): Middleware {
  const locks = new Map<string, { readers: number; writer: boolean; users: number; waiting: (() => void)[] }>();
  return async (ctx, next) => {
    const key = /^\/[^/]+\/.+/.test(ctx.path) ? ctx.path : undefined; // /bucket/key: one object
    if (!key) return next();
    const exclusive = ctx.method !== 'GET' && ctx.method !== 'HEAD';
    let lock = locks.get(key);
    if (!lock) {
      lock = { readers: 0, writer: false, users: 0, waiting: [] };
      locks.set(key, lock);
    }
    const l = lock;
    l.users++;
    const me = { state: 'waiting' as 'waiting' | 'holding' | 'done' };
    const leave = () => {
      if (me.state === 'holding') {
        if (exclusive) l.writer = false;
        else l.readers--;
      }
      me.state = 'done';
      if (--l.users === 0) locks.delete(key);
      for (const wake of l.waiting.splice(0)) wake();
    };
    // Released when the response is finished or the client goes, also while still waiting.
    ctx.res.once('close', () => me.state !== 'done' && leave());
    while (me.state === 'waiting' && (l.writer || (exclusive && l.readers > 0)))
      await new Promise<void>((wake) => l.waiting.push(wake));
    if (me.state === 'done') return; // the client went away while waiting
    me.state = 'holding';
    if (exclusive) l.writer = true;
    else l.readers++;
    return next();
  };
}

/**
 * An S3-compatible server over HTTP in this process, for local use and tests where no MinIO runs.
 * @20minutes/s3rver checks SigV4 signatures, so the real minio client code path is exercised.
 */
export async function startLocalS3(
  directory: string,
  port = 0,
): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const server = new S3rver({ address: '127.0.0.1', port, silent: true, directory });
  // The minio client lists the multipart uploads in progress before it starts one (objects over its
  // part size, 32 MB here: large data exports) or aborts one; s3rver has multipart uploads but not
  // that listing. This answers "none", ahead of s3rver's router, so every such upload starts
  // afresh. (It answers before s3rver's signature check: it reveals nothing, the list is empty.)
  // s3rver removes a folder once its last object is deleted, racing a write of another key into the
  // same folder (a 500 for that PUT); shard folders are few and cheap, so deletes leave them be.
  const store = (server as unknown as { store: FileStore }).store;
  store.deleteObject = async (bucket, key) => {
    for (const resource of ['object', 'object.md5', 'metadata.json'])
      await rm(store.getResourcePath(bucket, key, resource), { force: true });
  };
  const koa = server as unknown as { middleware: Middleware[] };
  koa.middleware.splice(koa.middleware.length - 1, 0, objectLocks(), (ctx, next) => {
    const bucket = /^\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/?$/.exec(ctx.path)?.[1]; // a valid bucket name, nothing else
    if (ctx.method !== 'GET' || !bucket || !('uploads' in ctx.query)) return next();
    ctx.type = 'application/xml';
    ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>${bucket}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>`;
  });
  const address = await server.run();
  const close = async () => {
    const http = (server as unknown as { httpServer?: import('node:http').Server }).httpServer;
    const closed = server.close();
    // Stopped means stopped: idle keep-alive connections go too, as when the process dies.
    http?.closeAllConnections();
    await closed;
  };
  return { endpoint: `http://127.0.0.1:${address.port}`, close };
}

import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import S3rver from '@20minutes/s3rver';

type PutContent = (objectPath: string, content: unknown) => Promise<[number, string]>;

interface ListContext {
  method: string;
  path: string;
  query: Record<string, unknown>;
  type: string;
  body: unknown;
}

/**
 * An S3-compatible server over HTTP in this process, for local use and tests where no MinIO runs.
 * @20minutes/s3rver checks SigV4 signatures, so the real minio client code path is exercised.
 */
export async function startLocalS3(directory: string, port = 0): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const server = new S3rver({ address: '127.0.0.1', port, silent: true, directory });
  // The minio client lists the multipart uploads in progress before it starts one (objects over its
  // part size, 32 MB here: large data exports) or aborts one; s3rver has multipart uploads but not
  // that listing. This answers "none", ahead of s3rver's router, so every such upload starts
  // afresh. (It answers before s3rver's signature check: it reveals nothing, the list is empty.)
  const koa = server as unknown as { middleware: ((ctx: ListContext, next: () => Promise<void>) => unknown)[] };
  koa.middleware.splice(koa.middleware.length - 1, 0, (ctx, next) => {
    const bucket = /^\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/?$/.exec(ctx.path)?.[1]; // a valid bucket name, nothing else
    if (ctx.method !== 'GET' || !bucket || !('uploads' in ctx.query)) return next();
    ctx.type = 'application/xml';
    ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>${bucket}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>`;
  });
  // s3rver writes an object in place, so a GET during a PUT of the same key (a photo read while its
  // preparation writes it back) reads a torn object and fails its GCM tag; S3 and MinIO swap whole
  // objects. Written beside it and renamed over it, the object is whole at every moment here too.
  const store = (server as unknown as { store: { putContent: PutContent } }).store;
  const putContent = store.putContent.bind(store);
  store.putContent = async (objectPath, content) => {
    const partial = `${objectPath}.${randomBytes(6).toString('hex')}.partial`; // not listed: not an object suffix
    try {
      const written = await putContent(partial, content);
      await rename(partial, objectPath);
      return written;
    } catch (err) {
      await rm(partial, { force: true });
      throw err;
    }
  };
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

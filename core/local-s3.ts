import S3rver from '@20minutes/s3rver';

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
  // 64 MB part size: large data exports); s3rver has multipart uploads but not that listing. This
  // answers "none", ahead of s3rver's router, so every such upload starts afresh.
  const koa = server as unknown as { middleware: ((ctx: ListContext, next: () => Promise<void>) => unknown)[] };
  koa.middleware.splice(koa.middleware.length - 1, 0, (ctx, next) => {
    const bucket = /^\/([^/]+)\/?$/.exec(ctx.path)?.[1];
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

import S3rver from '@20minutes/s3rver';

/**
 * An S3-compatible server over HTTP in this process, for local use and tests where no MinIO runs.
 * @20minutes/s3rver checks SigV4 signatures, so the real minio client code path is exercised.
 */
export async function startLocalS3(directory: string, port = 0): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const server = new S3rver({ address: '127.0.0.1', port, silent: true, directory });
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

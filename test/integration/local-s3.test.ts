import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Client } from 'minio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalS3 } from '../../core/platform/local-s3';

// The in-process S3 server behaves as S3 and MinIO do where the service depends on it.
let dir: string;
let s3: Awaited<ReturnType<typeof startLocalS3>>;
let client: Client;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'rasmi-local-s3-'));
  s3 = await startLocalS3(dir);
  const url = new URL(s3.endpoint);
  // No client retries: a server error must show, not be papered over.
  client = new Client({
    endPoint: url.hostname,
    port: Number(url.port),
    useSSL: false,
    accessKey: 'S3RVER',
    secretKey: 'S3RVER',
    region: 'us-east-1',
    pathStyle: true,
    retryOptions: { disableRetry: true },
  });
  await client.makeBucket('local-s3-test', 'us-east-1');
});
afterAll(async () => {
  await s3?.close();
  await rm(dir, { recursive: true, force: true });
});

async function get(key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await client.getObject('local-s3-test', key)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('the local S3 server', () => {
  it('swaps whole objects: a GET during a PUT of the same key reads the old or the new object, never a torn one', async () => {
    const versions = [randomBytes(4 * 1024 * 1024), randomBytes(4 * 1024 * 1024)];
    await client.putObject('local-s3-test', 'photo', versions[0], versions[0].length);
    const seen = { old: 0, new: 0, torn: 0 };
    for (let i = 1; i <= 16; i++) {
      const next = versions[i % 2];
      const before = versions[(i + 1) % 2];
      const [, read] = await Promise.all([client.putObject('local-s3-test', 'photo', next, next.length), get('photo')]);
      if (read.equals(before)) seen.old++;
      else if (read.equals(next)) seen.new++;
      else seen.torn++;
    }
    expect(seen.torn).toBe(0);
    expect(seen.old + seen.new).toBe(16);
    // Only whole objects are listed (no partial file shows up as a key).
    const keys: string[] = [];
    for await (const item of client.listObjects('local-s3-test', '', true))
      if ('name' in item && item.name) keys.push(item.name);
    expect(keys).toEqual(['photo']);
  });

  it('takes concurrent writes, reads and deletes of keys sharing a folder without a server error or a torn read', async () => {
    const body = randomBytes(200_000);
    const failures: string[] = [];
    let reads = 0;
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; i < 40; i++) {
          const key = `originals/s${w % 2}/k${(w + i) % 4}`;
          const op = (w + i) % 5;
          try {
            if (op < 2) await client.putObject('local-s3-test', key, body, body.length);
            else if (op < 4) {
              const read = await get(key);
              reads++;
              if (!read.equals(body)) failures.push(`torn read of ${key}`);
            } else await client.removeObject('local-s3-test', key);
          } catch (err) {
            if ((err as { code?: string }).code !== 'NoSuchKey')
              failures.push(`${op < 2 ? 'put' : op < 4 ? 'get' : 'delete'} ${key}: ${(err as Error).message}`);
          }
        }
      }),
    );
    expect(failures).toEqual([]);
    expect(reads).toBeGreaterThan(0);
  });

  it('answers the multipart-upload listing, so objects over a part size go up in parts', async () => {
    const big = randomBytes(12 * 1024 * 1024);
    const url = new URL(s3.endpoint);
    const parts = new Client({
      endPoint: url.hostname,
      port: Number(url.port),
      useSSL: false,
      accessKey: 'S3RVER',
      secretKey: 'S3RVER',
      region: 'us-east-1',
      pathStyle: true,
      partSize: 5 * 1024 * 1024,
    });
    await parts.putObject('local-s3-test', 'big', Readable.from([big.subarray(0, 6e6), big.subarray(6e6)]), big.length);
    expect((await get('big')).equals(big)).toBe(true);
  });
});

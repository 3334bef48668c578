import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import os from 'node:os';
import { Readable } from 'node:stream';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptObject, parseKeyring, unwrapDataKey } from '../../core/platform/crypto';
import { fixture, multipart, signUp, startStack, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ role: 'api' });
});
afterAll(async () => {
  await stack?.stop();
});

async function rawObject(bucket: string, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await stack.ctx.storage.client.getObject(bucket, key)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('encryption at rest', () => {
  it('SC1 the object store holds no readable image, and the wrong key cannot open it', async () => {
    const { token } = await signUp(stack);
    const up = await stack.api('POST', '/v1/photos', {
      token,
      body: multipart('photo', await fixture('astronaut.png')),
    });
    const blob = await stack.ctx.db
      .selectFrom('photos')
      .innerJoin('blobs', 'blobs.id', 'photos.blob_id')
      .selectAll('blobs')
      .where('photos.id', '=', up.body.id)
      .executeTakeFirstOrThrow();
    expect(blob.object_key).not.toMatch(/person|example|selfie|astronaut/);

    const raw = await rawObject(blob.bucket, blob.object_key);
    await expect(sharp(raw).metadata()).rejects.toThrow();
    // No image signature where a decoder looks for one (anywhere else, 3 bytes occur by chance in ciphertext).
    for (const magic of [
      [0xff, 0xd8, 0xff],
      [0x89, 0x50, 0x4e, 0x47],
    ])
      expect(raw.subarray(0, magic.length).equals(Buffer.from(magic))).toBe(false);

    // The right key opens it; a different master key does not.
    const plain = decryptObject(unwrapDataKey(parseKeyring(stack.config.MASTER_KEYS), blob.kid, blob.dek), raw);
    expect((await sharp(plain).metadata()).format).toBe('png'); // as uploaded, until the worker prepares it
    const wrong = parseKeyring(`${blob.kid}:${'ab'.repeat(32)}`);
    expect(() => unwrapDataKey(wrong, blob.kid, blob.dek)).toThrow();
  });

  it('SC2 email, name and phone are stored encrypted and looked up by a keyed hash', async () => {
    const { email, userId } = await signUp(stack, { name: 'Grace Hopper', phone: '+41791234567' });
    const row = await stack.ctx.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirstOrThrow();
    const dump = JSON.stringify(row);
    for (const clear of [email, 'Grace Hopper', '+41791234567', '41791234567']) expect(dump).not.toContain(clear);
    expect(row.email_hash).toMatch(/^[0-9a-f]{64}$/);
    await stack.api('POST', '/v1/auth/code', { json: { email } });
    const me = await stack.api('GET', '/v1/me', { token: await signInAgain(email) });
    expect(me.body).toMatchObject({ email, name: 'Grace Hopper', phone: '+41791234567' });
  });

  it('SC1 a stream of unknown length larger than an upload part (a big data export) is stored as one encrypted object and reads back identical, leaving no spool file', async () => {
    const { userId } = await signUp(stack);
    const spools = async () => (await readdir(os.tmpdir())).filter((f) => f.startsWith('rasmi-spool-')).length;
    const spoolsBefore = await spools();
    // 72 MB in 1 MB chunks: over two of the client's 32 MB parts, so the multipart path runs.
    const chunk = randomBytes(1024 * 1024);
    const whole = createHash('sha256');
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < 72; i++) {
          const c = Buffer.from(chunk);
          c.writeUInt32BE(i); // every chunk differs, so a part out of order would show
          whole.update(c);
          yield c;
        }
      })(),
    );
    const blob = await stack.ctx.storage.putStream(stack.ctx.db, {
      userId,
      role: 'headshots',
      contentType: 'application/zip',
      source,
      at: new Date(),
    });
    expect(Number(blob.size_bytes)).toBe(72 * 1024 * 1024);
    expect(await spools()).toBe(spoolsBefore);

    const raw = await rawObject(blob.bucket, blob.object_key);
    expect(raw.length).toBe(72 * 1024 * 1024 + 12 + 16); // iv | ciphertext | tag
    expect(raw.includes(chunk.subarray(4, 64))).toBe(false);
    const back = createHash('sha256');
    for await (const c of await stack.ctx.storage.stream(blob)) back.update(c as Buffer);
    expect(back.digest('hex')).toBe(whole.digest('hex'));
    await stack.ctx.storage.remove(stack.ctx.db, blob);
  });
});

async function signInAgain(email: string): Promise<string> {
  const code = /code is (\d{6})/.exec(stack.postmark.to(email).at(-1)!.TextBody!)![1];
  return (await stack.api('POST', '/v1/auth/token', { json: { email, code } })).body.token;
}

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import express from 'express';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corsAllowList } from '../../api/cors';
import { loadConfig } from '../../core/platform/config';
import {
  decryptField,
  emailLookupHash,
  fieldKeyId,
  oneTimeCodeHash,
  parseKeyring,
  sha256Hex,
} from '../../core/platform/crypto';
import type { Blob } from '../../core/platform/db';
import { rotateKeys } from '../../core/platform/key-rotation';
import { createLogger } from '../../core/platform/logger';
import { listen, type Running } from '../../core/platform/roles';
import { startRole } from '../../main';
import { fixture, signUp, startStack, until, type Stack, uploadJudged } from '../support/stack';

const run = promisify(execFile);

// Keys the stack starts with, and the ones an operator later puts in front of them.
const OLD_MASTER = `m2025:${'a1'.repeat(32)}`;
const NEW_MASTER = `m2026:${'b2'.repeat(32)}`;
const OLD_PII = `p2025:${'c3'.repeat(32)}`;
const NEW_PII = `p2026:${'d4'.repeat(32)}`;
const APP_ORIGIN = 'https://app.example.com';

const PERSON = { name: 'Zebulon Quartermaine', phone: '+41791234567' };
const PENDING_EMAIL = 'zebulon.new-address@example.org';
const ANON_EMAIL = 'anonymous.asker@example.net';

let stack: Stack;
let person: { token: string; email: string; userId: string };
let photoId: string;
const extraRoles: Running[] = [];

beforeAll(async () => {
  stack = await startStack({
    role: 'all',
    env: { MASTER_KEYS: OLD_MASTER, PII_KEYS: OLD_PII, CORS_ORIGINS: APP_ORIGIN },
  });
  // One person with every kind of PII and a delivered order: originals and headshots in the bucket.
  person = await signUp(stack, PERSON);
  const up = { body: await uploadJudged(stack, person.token, await fixture('astronaut.png')) };
  expect(up.body.status).toBe('usable');
  photoId = up.body.id;
  const created = await stack.api('POST', '/v1/orders', {
    token: person.token,
    json: { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [photoId] },
  });
  expect(created.status).toBe(201);
  const settled = await until(
    async () => {
      const o = await stack.api('GET', `/v1/orders/${created.body.order.id}`, { token: person.token });
      return ['ready', 'failed'].includes(o.body.status) && (o.body.status as string);
    },
    150_000,
    'the order to settle',
  );
  expect(settled).toBe('ready');
  expect((await stack.api('PATCH', '/v1/me', { token: person.token, json: { email: PENDING_EMAIL } })).status).toBe(
    200,
  );
  expect(
    (
      await stack.api('POST', '/v1/inquiries', {
        token: person.token,
        json: { kind: 'privacy', subject: `About ${PERSON.name}`, message: `Call me on ${PERSON.phone}` },
      })
    ).status,
  ).toBe(201);
  expect(
    (
      await stack.api('POST', '/v1/inquiries', {
        json: { kind: 'support', subject: 'A question', message: 'Hello', email: ANON_EMAIL },
      })
    ).status,
  ).toBe(201);
  // More originals, so rotation crosses several batches; judged, so that what is at rest has settled
  // (a photo being prepared has its thumbnail in the bucket a moment before its row records it).
  for (const name of ['coffee.png', 'chelsea.png'])
    expect((await uploadJudged(stack, person.token, await fixture(name), name)).status).toBe('unusable');
});

afterAll(async () => {
  for (const r of extraRoles) await r.stop();
  await stack?.stop();
});

async function rawObject(bucket: string, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await stack.ctx.storage.client.getObject(bucket, key)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function allObjects(): Promise<{ bucket: string; key: string }[]> {
  const out: { bucket: string; key: string }[] = [];
  for (const bucket of Object.values(stack.ctx.storage.buckets)) {
    for await (const item of stack.ctx.storage.client.listObjectsV2(bucket, '', true))
      if (item.name) out.push({ bucket, key: item.name });
  }
  return out;
}

/** Another API process on the same database and bucket, with other keyrings. */
async function apiWith(keys: { MASTER_KEYS: string; PII_KEYS: string }) {
  const r = await startRole(
    'api',
    { ...stack.config, ...keys },
    { clock: stack.clock, port: 0, migrate: false, logger: createLogger('silent') },
  );
  extraRoles.push(r);
  const get = (path: string, token: string) => fetch(r.url + path, { headers: { authorization: `Bearer ${token}` } });
  return { ctx: r.ctx, get };
}

const blobsNow = (): Promise<Blob[]> => stack.ctx.db.selectFrom('blobs').selectAll().orderBy('id').execute();

describe('a dump of everything at rest', () => {
  it('SC2 a pg_dump of the database and a listing of the bucket show no email, phone, name or decodable image in clear', async () => {
    const { stdout: dump } = await run('pg_dump', ['--no-owner', '--no-privileges', stack.config.DATABASE_URL], {
      maxBuffer: 256 * 1024 * 1024,
    });
    expect(dump).toContain('COPY public.users'); // the dump is real and has the rows
    expect(dump).toContain(person.userId);
    expect(dump).toContain('v1.p2025.'); // the PII is there, as ciphertext
    const lower = dump.toLowerCase();
    const clear = [
      person.email,
      person.email.split('@')[0],
      PENDING_EMAIL,
      ANON_EMAIL,
      PERSON.name,
      'Quartermaine',
      PERSON.phone,
      PERSON.phone.slice(1),
      '791234567',
    ];
    for (const s of clear) expect(lower, `dump contains ${s}`).not.toContain(s.toLowerCase());
    // No image bytes in the database either: bytea as hex, or base64 of a JPEG or PNG.
    for (const s of ['\\xffd8ff', '\\x89504e47', '/9j/4', 'ivborw0kggo']) expect(lower).not.toContain(s);

    const objects = await allObjects();
    const blobs = await blobsNow();
    expect(objects.length).toBe(blobs.length);
    expect(blobs.some((b) => b.bucket === stack.ctx.storage.buckets.headshots)).toBe(true);
    for (const o of objects) {
      expect(o.key).not.toMatch(/person|example|zebulon|astronaut|coffee|chelsea|\.(jpe?g|png|webp)$/i);
      const raw = await rawObject(o.bucket, o.key);
      await expect(sharp(raw).metadata(), `${o.key} decodes`).rejects.toThrow();
      // JPEG's start-of-image near the front, PNG's 8-byte signature, JFIF/Exif markers anywhere:
      // (a 3-byte JPEG marker deep inside megabytes of ciphertext is chance, so only the head is checked)
      expect(raw.subarray(0, 64).includes(Buffer.from([0xff, 0xd8, 0xff]))).toBe(false);
      for (const sig of [
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
        Buffer.from('JFIF\0'),
        Buffer.from('Exif\0\0'),
      ])
        expect(raw.includes(sig)).toBe(false);
    }
  });
});

describe('one-time codes at rest', () => {
  it('SC2 a dump does not give away live sign-in or email-change codes: their hashes are keyed, so trying all million codes finds neither', async () => {
    // A live sign-in code, and the email-change code mailed to PENDING_EMAIL in beforeAll.
    expect((await stack.api('POST', '/v1/auth/code', { json: { email: person.email } })).status).toBe(202);
    const signInCode = /code is (\d{6})/.exec(stack.postmark.to(person.email).at(-1)!.TextBody ?? '')![1];
    const changeCode = /with the code (\d{6})/.exec(stack.postmark.to(PENDING_EMAIL).at(-1)!.TextBody ?? '')![1];
    const row = await stack.ctx.db
      .selectFrom('sign_in_codes')
      .select('code_hash')
      .where('user_id', '=', person.userId)
      .where('consumed_at', 'is', null)
      .executeTakeFirstOrThrow();
    const user = await stack.ctx.db
      .selectFrom('users')
      .select(['email_pending_code_hash', 'email_pending_hash'])
      .where('id', '=', person.userId)
      .executeTakeFirstOrThrow();
    const changeHash = user.email_pending_code_hash!.split('.')[1];
    expect(user.email_pending_hash).toBe(emailLookupHash(stack.config.PII_HASH_KEY, PENDING_EMAIL));

    // What someone holding only the dump would try: every code, plainly hashed with what the row holds.
    const stored = new Set([row.code_hash, changeHash]);
    const found: string[] = [];
    for (let n = 0; n < 1_000_000; n++) {
      if (n % 50_000 === 0) await new Promise((r) => setImmediate(r)); // the stack shares this event loop
      const code = String(n).padStart(6, '0');
      for (const guess of [code, `${person.userId}:${code}`, `${person.userId}:${user.email_pending_hash}:${code}`])
        if (stored.has(sha256Hex(guess))) found.push(code);
    }
    expect(found).toEqual([]);
    // With the key the hashes are the codes' (so the search above looked at real hashes of real codes).
    expect(row.code_hash).toBe(oneTimeCodeHash(stack.config.PII_HASH_KEY, 'sign-in', signInCode, person.userId));
    expect(changeHash).toBe(
      oneTimeCodeHash(stack.config.PII_HASH_KEY, 'email-change', changeCode, person.userId, user.email_pending_hash!),
    );
    // A code bound to one purpose is not the hash of the same code for the other.
    expect(oneTimeCodeHash(stack.config.PII_HASH_KEY, 'email-change', signInCode, person.userId)).not.toBe(
      row.code_hash,
    );
    const tok = await stack.api('POST', '/v1/auth/token', { json: { email: person.email, code: signInCode } });
    expect(tok.status).toBe(200);
  }, 180_000); // a million hashes: seconds on a quiet machine, more on a loaded one; nothing here is about speed
});

describe('security headers and CORS', () => {
  it('an allowed origin gets Access-Control-Allow-Origin and the exposed headers; another origin gets none', async () => {
    const ok = await stack.api('GET', '/v1/styles', { headers: { origin: APP_ORIGIN } });
    expect(ok.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(ok.headers.get('vary')).toMatch(/origin/i);
    expect(ok.headers.get('access-control-allow-credentials')).toBeNull();
    const exposed = (ok.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(',');
    for (const h of [
      'ratelimit-limit',
      'ratelimit-remaining',
      'ratelimit-reset',
      'retry-after',
      'x-request-id',
      'idempotent-replayed',
    ])
      expect(exposed).toContain(h);

    const other = await stack.api('GET', '/v1/styles', { headers: { origin: 'https://evil.example.com' } });
    expect(other.status).toBe(200);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();

    const preflight = (origin: string) =>
      stack.api('OPTIONS', '/v1/orders', {
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type,idempotency-key',
        },
      });
    const pre = await preflight(APP_ORIGIN);
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
    expect(pre.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('idempotency-key');
    expect((await preflight('https://evil.example.com')).headers.get('access-control-allow-origin')).toBeNull();
  });

  it('an empty CORS_ORIGINS allows no origin, and a malformed origin stops start-up', async () => {
    expect(loadConfig({}).CORS_ORIGINS).toEqual([]);
    expect(loadConfig({ CORS_ORIGINS: `${APP_ORIGIN}, http://localhost:5173` }).CORS_ORIGINS).toEqual([
      APP_ORIGIN,
      'http://localhost:5173',
    ]);
    expect(() => loadConfig({ CORS_ORIGINS: `${APP_ORIGIN}/path` })).toThrow(/CORS_ORIGINS/);
    const app = express()
      .use(corsAllowList([]))
      .get('/x', (_req, res) => void res.send('ok'));
    const { server, port } = await listen(app, 0, { host: '127.0.0.1' });
    try {
      const res = await fetch(`http://127.0.0.1:${port}/x`, { headers: { origin: APP_ORIGIN } });
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      server.close();
    }
  });

  it('helmet sets its headers on API responses', async () => {
    const res = await stack.api('GET', '/v1/styles');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('cross-origin-resource-policy')).toBe('same-origin');
    // A web client on another allowed origin (a CDN) shows style previews in <img>.
    const preview = await stack.api('GET', '/v1/styles/studio-grey/preview');
    expect([preview.status, preview.headers.get('cross-origin-resource-policy')]).toEqual([200, 'cross-origin']);
  });
});

describe('key rotation', () => {
  it('SC1 a new master key re-wraps object data keys without re-uploading; objects still decrypt, old key can then be dropped', async () => {
    const before = await blobsNow();
    expect(before.length).toBeGreaterThanOrEqual(4);
    expect(new Set(before.map((b) => b.kid))).toEqual(new Set(['m2025']));
    const plain = new Map<string, string>();
    const stored = new Map<string, { etag: string; modified: number; sha: string }>();
    for (const b of before) {
      plain.set(b.id, sha256Hex(await stack.ctx.storage.read(b)));
      const stat = await stack.ctx.storage.client.statObject(b.bucket, b.object_key);
      stored.set(b.id, {
        etag: stat.etag,
        modified: stat.lastModified.getTime(),
        sha: sha256Hex(await rawObject(b.bucket, b.object_key)),
      });
    }

    // Dropping the old key too early is caught: nothing can be re-wrapped, everything remains.
    expect(
      (
        await rotateKeys(
          { db: stack.ctx.db, config: { MASTER_KEYS: NEW_MASTER, PII_KEYS: OLD_PII } },
          { only: 'master', dryRun: true },
        )
      ).master,
    ).toEqual({ keyId: 'm2026', rewrapped: 0, failed: before.length, remaining: before.length });

    // The operator deploys "new,old", then rotates (in batches of 3 here).
    const keys = { MASTER_KEYS: `${NEW_MASTER},${OLD_MASTER}`, PII_KEYS: OLD_PII };
    const report = await rotateKeys({ db: stack.ctx.db, config: keys }, { only: 'master', batch: 3 });
    expect(report.master).toEqual({ keyId: 'm2026', rewrapped: before.length, failed: 0, remaining: 0 });
    expect(report.pii).toBeUndefined();
    // Idempotent: a second run finds nothing to do.
    expect((await rotateKeys({ db: stack.ctx.db, config: keys }, { only: 'master' })).master).toMatchObject({
      rewrapped: 0,
      remaining: 0,
    });

    const after = await blobsNow();
    for (const b of after) {
      const was = before.find((x) => x.id === b.id)!;
      expect(b.kid).toBe('m2026');
      expect(Buffer.compare(b.dek, was.dek)).not.toBe(0);
      // The object itself was not touched: same bytes, same ETag, same modification time.
      const stat = await stack.ctx.storage.client.statObject(b.bucket, b.object_key);
      expect({
        etag: stat.etag,
        modified: stat.lastModified.getTime(),
        sha: sha256Hex(await rawObject(b.bucket, b.object_key)),
      }).toEqual(stored.get(b.id));
    }

    // The old key dropped: a process with only the new master key reads every object.
    const next = await apiWith({ MASTER_KEYS: NEW_MASTER, PII_KEYS: OLD_PII });
    expect(parseKeyring(next.ctx.config.MASTER_KEYS).byId.has('m2025')).toBe(false);
    for (const b of after) expect(sha256Hex(await next.ctx.storage.read(b))).toBe(plain.get(b.id));
    const content = await next.get(`/v1/photos/${photoId}/content`, person.token);
    expect(content.status).toBe(200);
    expect((await sharp(Buffer.from(await content.arrayBuffer())).metadata()).format).toBe('jpeg');
  });

  it('SC2 PII keys rotate the same way', async () => {
    const old = parseKeyring(OLD_PII);
    const users = await stack.ctx.db
      .selectFrom('users')
      .select(['id', 'email_hash', 'email_enc', 'name_enc', 'phone_enc', 'email_pending_enc'])
      .orderBy('id')
      .execute();
    const inquiries = await stack.ctx.db
      .selectFrom('inquiries')
      .select(['id', 'subject_enc', 'body_enc'])
      .orderBy('id')
      .execute();
    const fields = (rows: Record<string, unknown>[]) =>
      rows.flatMap((r) => Object.entries(r).filter(([k, v]) => k.endsWith('_enc') && typeof v === 'string')) as [
        string,
        string,
      ][];
    const clearBefore = fields([...users, ...inquiries]).map(([k, v]) => [k, decryptField(old, v)]);
    expect(fields([...users, ...inquiries]).every(([, v]) => fieldKeyId(v) === 'p2025')).toBe(true);

    const keys = { MASTER_KEYS: NEW_MASTER, PII_KEYS: `${NEW_PII},${OLD_PII}` };
    const report = await rotateKeys({ db: stack.ctx.db, config: keys }, { only: 'pii', batch: 1 });
    expect(report.pii).toMatchObject({
      keyId: 'p2026',
      rows: users.length + inquiries.length,
      failed: 0,
      remaining: 0,
    });
    expect(report.pii!.fields).toEqual({
      'users.email_enc': users.length,
      'users.name_enc': users.length,
      'users.phone_enc': users.filter((u) => u.phone_enc).length,
      'users.email_pending_enc': 1,
      'inquiries.subject_enc': inquiries.length,
      'inquiries.body_enc': inquiries.length,
    });
    expect((await rotateKeys({ db: stack.ctx.db, config: keys }, { only: 'pii' })).pii).toMatchObject({
      rows: 0,
      remaining: 0,
    });

    const usersAfter = await stack.ctx.db
      .selectFrom('users')
      .select(['id', 'email_hash', 'email_enc', 'name_enc', 'phone_enc', 'email_pending_enc'])
      .orderBy('id')
      .execute();
    const inquiriesAfter = await stack.ctx.db
      .selectFrom('inquiries')
      .select(['id', 'subject_enc', 'body_enc'])
      .orderBy('id')
      .execute();
    const now = fields([...usersAfter, ...inquiriesAfter]);
    expect(now.every(([, v]) => fieldKeyId(v) === 'p2026')).toBe(true);
    expect(now.map(([k, v]) => [k, decryptField(parseKeyring(NEW_PII), v)])).toEqual(clearBefore);
    expect(usersAfter.map((u) => u.email_hash)).toEqual(users.map((u) => u.email_hash)); // look-ups still work

    // The old PII key dropped: a process with only the new keys serves the profile.
    const next = await apiWith({ MASTER_KEYS: NEW_MASTER, PII_KEYS: NEW_PII });
    const me = await next.get('/v1/me', person.token);
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ email: person.email, name: PERSON.name, phone: PERSON.phone });
  });
});

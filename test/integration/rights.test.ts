import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Job, Worker } from 'bullmq';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS } from '../../core/platform/config';
import { consentsOf, hasConsent, recordConsent } from '../../core/privacy/consent';
import type { AppContext } from '../../core/platform/context';
import { parseKeyring } from '../../core/platform/crypto';
import { exportZip } from '../../core/privacy/export';
import { createRightsRequest } from '../../core/privacy/rights';
import { Storage, sweepStaleSpools } from '../../core/platform/storage';
import { rightsHandlers } from '../../worker/rights';
import { sweepHandlers } from '../../scheduler/sweeps';
import { fixture, signUp, startStack, until, type Stack, uploadJudged } from '../support/stack';
import { unzip } from '../support/unzip';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const fakeJob = {} as Job;
const codeIn = (text: string | undefined) => /\b(\d{6})\b/.exec(text ?? '')![1];

/** A person with one delivered order made from astronaut.png (photo, headshot, payment). */
async function personWithOrder() {
  const me = await signUp(stack);
  const up = { body: await uploadJudged(stack, me.token, await fixture('astronaut.png')) };
  expect(up.body.status).toBe('usable');
  const created = await stack.api('POST', '/v1/orders', {
    token: me.token,
    json: { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [up.body.id] },
  });
  expect(created.status).toBe(201);
  const order = await until(
    async () => {
      const o = await stack.api('GET', `/v1/orders/${created.body.order.id}`, { token: me.token });
      return o.body.status === 'ready' && o.body;
    },
    60_000,
    'order to be ready',
  );
  return { ...me, photoId: up.body.id as string, order };
}

async function countRows(table: 'blobs'): Promise<number> {
  return Number(
    (
      await stack.ctx.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );
}

async function rightsRow(id: string) {
  return stack.ctx.db.selectFrom('rights_requests').selectAll().where('id', '=', id).executeTakeFirst();
}

function privacyWorker(): Worker {
  return stack.workers.flatMap((w) => w.workers).find((w) => w.name === 'privacy')!;
}

describe('correction (§6)', () => {
  it('AC4 a new email is verified before it replaces the old one, the old address is told; name and phone change at once; an invalid phone is refused', async () => {
    const me = await signUp(stack);
    const badPhone = await stack.api('PATCH', '/v1/me', { token: me.token, json: { phone: '0791234567' } });
    expect(badPhone.status).toBe(400);
    expect(badPhone.body.code).toBe('validation_failed');

    const newEmail = `renamed-${me.email}`;
    const patched = await stack.api('PATCH', '/v1/me', {
      token: me.token,
      json: { name: 'Ada Lovelace', phone: '+41791234567', email: newEmail },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      name: 'Ada Lovelace',
      phone: '+41791234567',
      email: me.email,
      email_change: { email: newEmail },
    });
    // Not applied yet: the account still answers to the old address.
    expect((await stack.api('GET', '/v1/me', { token: me.token })).body.email).toBe(me.email);

    const codeMail = stack.postmark.to(newEmail).find((m) => m.Tag === 'email-change-code')!;
    expect(codeMail).toBeDefined();
    const code = codeIn(codeMail.Subject);
    const wrong = await stack.api('POST', '/v1/me/email/verify', {
      token: me.token,
      json: { code: code === '000000' ? '111111' : '000000' },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.code).toBe('invalid_code');

    const verified = await stack.api('POST', '/v1/me/email/verify', { token: me.token, json: { code } });
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ email: newEmail, email_change: null });
    expect((await stack.api('GET', '/v1/me', { token: me.token })).body.email).toBe(newEmail);
    const notice = stack.postmark.to(me.email).filter((m) => m.Tag === 'email-changed');
    expect(notice).toHaveLength(1);
    expect(notice[0].TextBody).not.toContain(newEmail);
    // A used code does not work twice.
    expect((await stack.api('POST', '/v1/me/email/verify', { token: me.token, json: { code } })).body.code).toBe(
      'invalid_code',
    );

    // The new address signs in; the old one no longer does.
    await stack.api('POST', '/v1/auth/code', { json: { email: me.email } });
    expect(stack.postmark.to(me.email).filter((m) => m.Tag === 'sign-in-code')).toHaveLength(1);
    await stack.api('POST', '/v1/auth/code', { json: { email: newEmail } });
    expect(stack.postmark.to(newEmail).filter((m) => m.Tag === 'sign-in-code')).toHaveLength(1);

    const removed = await stack.api('PATCH', '/v1/me', { token: me.token, json: { phone: null } });
    expect(removed.body.phone).toBeNull();
  });

  it('AC4 an expired code and an address already in use are refused', async () => {
    const me = await signUp(stack);
    const other = await signUp(stack);
    await stack.api('PATCH', '/v1/me', { token: me.token, json: { email: other.email } });
    const taken = codeIn(stack.postmark.to(other.email).find((m) => m.Tag === 'email-change-code')!.Subject);
    const conflict = await stack.api('POST', '/v1/me/email/verify', { token: me.token, json: { code: taken } });
    expect(conflict.status).toBe(409);
    expect(conflict.body.code).toBe('email_taken');
    expect((await stack.api('GET', '/v1/me', { token: me.token })).body.email).toBe(me.email);

    const late = `late-${me.email}`;
    await stack.api('PATCH', '/v1/me', { token: me.token, json: { email: late } });
    const code = codeIn(stack.postmark.to(late).find((m) => m.Tag === 'email-change-code')!.Subject);
    const at = stack.clock.now();
    stack.clock.advance((stack.config.EMAIL_CHANGE_CODE_TTL_MINUTES + 1) * 60_000);
    try {
      const expired = await stack.api('POST', '/v1/me/email/verify', { token: me.token, json: { code } });
      expect(expired.status).toBe(400);
      expect(expired.body.code).toBe('invalid_code');
    } finally {
      stack.clock.set(at);
    }
    expect((await stack.api('GET', '/v1/me', { token: me.token })).body.email).toBe(me.email);
  });

  it('RG2 profile corrections apply at once and are logged as completed correction requests the owner alone can see', async () => {
    const me = await signUp(stack);
    const other = await signUp(stack);
    const r = await stack.api('PATCH', '/v1/me', {
      token: me.token,
      json: { name: 'Grace Hopper', phone: '+15551234567' },
    });
    expect(r.status).toBe(200);
    expect((await stack.api('GET', '/v1/me', { token: me.token })).body).toMatchObject({
      name: 'Grace Hopper',
      phone: '+15551234567',
    });

    const list = await stack.api('GET', '/v1/rights-requests', { token: me.token });
    expect(list.status).toBe(200);
    const correction = list.body.items.find((i: { kind: string }) => i.kind === 'correction');
    expect(correction).toMatchObject({ status: 'completed', details: { fields: ['name', 'phone'] } });
    expect(correction.completed_at).not.toBeNull();
    // No personal data in the log, and only the owner can read it.
    expect(JSON.stringify(correction)).not.toContain('Grace');
    expect((await stack.api('GET', `/v1/rights-requests/${correction.id}`, { token: me.token })).status).toBe(200);
    expect((await stack.api('GET', `/v1/rights-requests/${correction.id}`, { token: other.token })).status).toBe(404);
  });
});

describe('restriction and objection (§6)', () => {
  it('RG4 a restriction of analytics and service improvement is in force at once and excludes the person from that processing until they opt in again', async () => {
    const me = await signUp(stack);
    await recordConsent(stack.ctx, me.userId, 'analytics', true, 'settings');
    await recordConsent(stack.ctx, me.userId, 'service_improvement', true, 'settings');
    expect(await hasConsent(stack.ctx, me.userId, 'analytics')).toBe(true);

    const r = await stack.api('POST', '/v1/rights-requests', {
      token: me.token,
      json: { kind: 'restriction', purposes: ['analytics', 'service_improvement'] },
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      kind: 'restriction',
      status: 'completed',
      details: { purposes: ['analytics', 'service_improvement'] },
    });
    // Everything that processes analytics asks hasConsent: it now says no.
    expect(await hasConsent(stack.ctx, me.userId, 'analytics')).toBe(false);
    expect((await consentsOf(stack.ctx, me.userId)).service_improvement).toBe(false);
    const rows = await stack.ctx.db
      .selectFrom('consents')
      .selectAll()
      .where('user_id', '=', me.userId)
      .where('source', '=', 'restriction')
      .execute();
    expect(rows.map((c) => [c.purpose, c.granted]).sort()).toEqual([
      ['analytics', false],
      ['service_improvement', false],
    ]);

    // Only a later opt-in re-enables it.
    await recordConsent(stack.ctx, me.userId, 'analytics', true, 'settings');
    expect(await hasConsent(stack.ctx, me.userId, 'analytics')).toBe(true);
    expect(await hasConsent(stack.ctx, me.userId, 'service_improvement')).toBe(false);
  });

  it('RG5 an objection or consent withdrawal per purpose is effective immediately, and a retried request does it once', async () => {
    const me = await signUp(stack);
    await recordConsent(stack.ctx, me.userId, 'marketing', true, 'settings');
    await recordConsent(stack.ctx, me.userId, 'portfolio', true, 'settings');
    const key = 'objection-key-0001';
    const body = { kind: 'objection', purposes: ['marketing'], basis: 'withdrawal' };
    const first = await stack.api('POST', '/v1/rights-requests', {
      token: me.token,
      json: body,
      headers: { 'idempotency-key': key },
    });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ kind: 'objection', status: 'completed' });
    const consents = await consentsOf(stack.ctx, me.userId);
    expect(consents.marketing).toBe(false);
    expect(consents.portfolio).toBe(true); // per purpose: the others stay as they were
    const again = await stack.api('POST', '/v1/rights-requests', {
      token: me.token,
      json: body,
      headers: { 'idempotency-key': key },
    });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(first.body.id);
    const withdrawals = await stack.ctx.db
      .selectFrom('consents')
      .select('source')
      .where('user_id', '=', me.userId)
      .where('purpose', '=', 'marketing')
      .where('granted', '=', false)
      .execute();
    expect(withdrawals).toEqual([{ source: 'withdrawal' }]);

    const objection = await stack.api('POST', '/v1/rights-requests', {
      token: me.token,
      json: { kind: 'objection', purposes: ['portfolio'] },
    });
    expect(objection.status).toBe(201);
    expect(await hasConsent(stack.ctx, me.userId, 'portfolio')).toBe(false);
    const latest = await stack.ctx.db
      .selectFrom('consents')
      .select('source')
      .where('user_id', '=', me.userId)
      .where('purpose', '=', 'portfolio')
      .orderBy('recorded_at', 'desc')
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow();
    expect(latest.source).toBe('objection');
  });
});

describe('access and deletion (§6)', () => {
  it('RG1 an access request yields one ZIP with data.json and every photo and headshot, downloadable by its owner, deleted after its retention', async () => {
    const me = await personWithOrder();
    const created = await stack.api('POST', '/v1/rights-requests', {
      token: me.token,
      json: { kind: 'access' },
      headers: { 'idempotency-key': 'access-key-0001' },
    });
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({ kind: 'access', status: 'open', export: null });
    const id = created.body.id as string;
    const done = await until(
      async () => {
        const r = await stack.api('GET', `/v1/rights-requests/${id}`, { token: me.token });
        return r.body.status === 'completed' && r.body;
      },
      30_000,
      'export to complete',
    );
    expect(done.export.download_url).toBe(`/v1/rights-requests/${id}/download`);
    const mail = await until(
      async () => stack.postmark.to(me.email).find((m) => m.Tag === 'rights-export-ready'),
      10_000,
      'export email',
    );
    expect(mail.TextBody).toContain(`${stack.ctx.publicUrl}/app/#/privacy?export=${id}`);

    // Sign-in required; another person gets nothing.
    expect((await stack.api('GET', done.export.download_url)).status).toBe(401);
    const other = await signUp(stack);
    expect((await stack.api('GET', done.export.download_url, { token: other.token })).status).toBe(404);

    const file = await stack.api('GET', done.export.download_url, { token: me.token });
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('application/zip');
    const entries = unzip(file.body);
    const data = JSON.parse(entries.get('data.json')!.toString('utf8'));
    expect(data.profile).toMatchObject({ id: me.userId, email: me.email, name: 'Test Person' });
    expect(data.photos).toHaveLength(1);
    expect(data.photos[0]).toMatchObject({ id: me.photoId, detected_type: 'png', verdict: { usable: true } });
    expect(data.headshots.length).toBe(me.order.headshots.length);
    expect(data.orders[0]).toMatchObject({ id: me.order.id, photo_ids: [me.photoId] });
    expect(data.payments[0]).toMatchObject({ order_id: me.order.id, status: 'succeeded' });
    expect(data.notifications.map((n: { kind: string }) => n.kind)).toContain('order-ready');
    expect(data.consents).toHaveProperty('in_force');
    expect(data.rights_requests.map((r: { id: string }) => r.id)).toContain(id);

    const images = [...data.photos, ...data.headshots].map((x: { file: string }) => x.file);
    expect(images.length).toBeGreaterThanOrEqual(2);
    for (const name of images) {
      const meta = await sharp(entries.get(name)!).metadata();
      expect(meta.format).toBe('jpeg');
      expect(meta.width).toBeGreaterThan(0);
    }

    // A signed link also works, without a token, for a few minutes.
    const link = await stack.api('POST', `/v1/rights-requests/${id}/link`, { token: me.token });
    expect(link.status).toBe(201);
    const viaLink = await stack.api('GET', new URL(link.body.url).pathname);
    expect(viaLink.status).toBe(200);
    expect(unzip(viaLink.body).has('data.json')).toBe(true);

    // The archive is kept EXPORT_RETENTION_DAYS, then the sweep deletes object and row.
    const row = (await rightsRow(id))!;
    const blob = await stack.ctx.db
      .selectFrom('blobs')
      .selectAll()
      .where('id', '=', row.export_blob_id!)
      .executeTakeFirstOrThrow();
    const at = stack.clock.now();
    try {
      stack.clock.advance((stack.config.EXPORT_RETENTION_DAYS - 1) * DAY_MS);
      await sweepHandlers['sweep.rights-exports'](stack.ctx, {}, fakeJob);
      expect((await rightsRow(id))!.export_blob_id).toBe(blob.id);
      stack.clock.advance(2 * DAY_MS);
      await sweepHandlers['sweep.rights-exports'](stack.ctx, {}, fakeJob);
      expect((await rightsRow(id))!.export_blob_id).toBeNull();
      expect(
        await stack.ctx.db.selectFrom('blobs').select('id').where('id', '=', blob.id).executeTakeFirst(),
      ).toBeUndefined();
      expect(await stack.ctx.storage.listKeys('headshots')).not.toContain(blob.object_key);
      const gone = await stack.api('GET', done.export.download_url, { token: me.token });
      expect(gone.status).toBe(410);
      expect(gone.body.code).toBe('export_expired');
      const record = await stack.ctx.db
        .selectFrom('deletion_records')
        .selectAll()
        .where('subject_id', '=', blob.id)
        .executeTakeFirstOrThrow();
      expect(record).toMatchObject({ subject_kind: 'export', reason: 'export-expired' });
    } finally {
      stack.clock.set(at);
    }
  });

  it('RG1 an export whose reader stops half-way fails instead of hanging, and stores nothing', async () => {
    const me = await personWithOrder();
    const blobsBefore = await stack.ctx.db
      .selectFrom('blobs')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    const { zip, files } = exportZip(stack.ctx, me.userId);
    // One chunk read, then the reader goes away (as when the spool or the upload fails).
    await new Promise<void>((resolve) =>
      zip.once('data', () => {
        zip.destroy();
        resolve();
      }),
    );
    // A hang would never settle and the test's own timeout would fail it.
    await expect(files).rejects.toThrow(/closed before it was complete/);
    const blobsAfter = await stack.ctx.db
      .selectFrom('blobs')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    expect(blobsAfter.n).toBe(blobsBefore.n);
  });

  it('RG1 an export fails cleanly and is retried when its upload fails after the last entry or its spool cannot be made: no hang, no blob, no object, no spool', async () => {
    const me = await personWithOrder();
    const req = await createRightsRequest(stack.ctx, { userId: me.userId, kind: 'access', status: 'open' });
    // A hang would never settle and the test's own timeout would fail it.
    const exportJob = (ctx: AppContext) => rightsHandlers['rights.export'](ctx, { requestId: req.id }, fakeJob);
    const spools = async () => (await readdir(os.tmpdir())).filter((f) => f.startsWith('rasmi-spool-')).sort();
    const before = { blobs: await countRows('blobs'), spools: await spools() };
    const headshotKeys = async () => (await stack.ctx.storage.listKeys('headshots')).length;
    const keysBefore = await headshotKeys();

    // The whole ZIP is spooled, then the upload fails (its bucket does not exist: a real S3 error).
    const storage = new Storage(
      { ...stack.config, endpoint: stack.config.S3_ENDPOINT!, S3_BUCKET_HEADSHOTS: 'rasmi-missing-bucket' },
      parseKeyring(stack.config.MASTER_KEYS),
    );
    await expect(exportJob({ ...stack.ctx, storage })).rejects.toThrow();
    // No spool folder can be made: nothing reads the archive, which must not keep the job waiting.
    const tmp = process.env.TMPDIR;
    process.env.TMPDIR = path.join(os.tmpdir(), 'rasmi-no-such-folder');
    try {
      await expect(exportJob(stack.ctx)).rejects.toThrow(/ENOENT/);
    } finally {
      if (tmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = tmp;
    }
    expect(await countRows('blobs')).toBe(before.blobs);
    expect(await spools()).toEqual(before.spools);
    expect(await headshotKeys()).toBe(keysBefore);
    expect((await rightsRow(req.id))!.status).toBe('in_progress');

    // The retry completes.
    await exportJob(stack.ctx);
    const done = (await rightsRow(req.id))!;
    expect(done.status).toBe('completed');
    expect((done.result as { files: number }).files).toBe(3); // data.json, the photo, the headshot
  });

  it('RG1 an account with no files exports data.json alone', async () => {
    const me = await signUp(stack);
    const req = await createRightsRequest(stack.ctx, { userId: me.userId, kind: 'access', status: 'open' });
    await rightsHandlers['rights.export'](stack.ctx, { requestId: req.id }, fakeJob);
    const done = (await rightsRow(req.id))!;
    expect(done.status).toBe('completed');
    expect((done.result as { files: number }).files).toBe(1);
    const file = await stack.api('GET', `/v1/rights-requests/${req.id}/download`, { token: me.token });
    expect(file.status).toBe(200);
    const entries = unzip(file.body as Buffer);
    expect([...entries.keys()]).toEqual(['data.json']);
  });

  it('removes spool folders a killed process left behind, and only those untouched for long', async () => {
    const stale = await mkdtemp(path.join(os.tmpdir(), 'rasmi-spool-'));
    const live = await mkdtemp(path.join(os.tmpdir(), 'rasmi-spool-'));
    await writeFile(path.join(stale, 'object'), 'ciphertext');
    const twoDaysAgo = new Date(Date.now() - 2 * DAY_MS);
    await utimes(stale, twoDaysAgo, twoDaysAgo);
    expect(await sweepStaleSpools(DAY_MS)).toBeGreaterThanOrEqual(1);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(live)).toBe(true);
    await rm(live, { recursive: true });
  });

  it('RG3 a deletion request blocks the account at once, deletes data and photos within minutes, and names the records kept', async () => {
    const me = await personWithOrder();
    const keys = (
      await stack.ctx.db.selectFrom('blobs').select(['bucket', 'object_key']).where('user_id', '=', me.userId).execute()
    ).map((b) => b.object_key);
    expect(keys.length).toBeGreaterThanOrEqual(2);
    const paymentIds = (
      await stack.ctx.db.selectFrom('payments').select('id').where('user_id', '=', me.userId).execute()
    ).map((p) => p.id);
    expect(paymentIds).toHaveLength(1);

    const r = await stack.api('POST', '/v1/rights-requests', { token: me.token, json: { kind: 'deletion' } });
    expect(r.status).toBe(202);
    expect(r.body.kind).toBe('deletion');
    expect(r.body.result.retained.join(' ')).toMatch(/transaction records.*pseudonymised.*accounting/);
    expect(Date.parse(r.body.due_at) - Date.parse(r.body.received_at)).toBe(stack.config.RIGHTS_DEADLINE_DAYS * DAY_MS);
    // Blocked at once: the token no longer works, and no sign-in code is sent.
    expect((await stack.api('GET', '/v1/me', { token: me.token })).status).toBe(401);

    const done = await until(
      async () => {
        const row = await rightsRow(r.body.id);
        return row?.status === 'completed' && row;
      },
      30_000,
      'deletion to complete',
    );
    expect(done.user_id).toBeNull();
    expect((done.result as { retained: string[] }).retained).toEqual(r.body.result.retained);

    const { db, storage } = stack.ctx;
    expect(await db.selectFrom('users').select('id').where('id', '=', me.userId).executeTakeFirst()).toBeUndefined();
    expect(await db.selectFrom('photos').select('id').where('user_id', '=', me.userId).execute()).toEqual([]);
    expect(await db.selectFrom('headshots').select('id').where('user_id', '=', me.userId).execute()).toEqual([]);
    expect(await db.selectFrom('blobs').select('id').where('user_id', '=', me.userId).execute()).toEqual([]);
    const objects = [...(await storage.listKeys('originals')), ...(await storage.listKeys('headshots'))];
    for (const k of keys) expect(objects).not.toContain(k);

    const payments = await db.selectFrom('payments').selectAll().where('id', 'in', paymentIds).execute();
    expect(payments).toHaveLength(1);
    expect(payments[0].user_id).toBeNull();
    expect(payments[0].pseudonym).toMatch(/^psn_/);

    const record = await db
      .selectFrom('deletion_records')
      .selectAll()
      .where('subject_id', '=', me.userId)
      .where('subject_kind', '=', 'user')
      .executeTakeFirstOrThrow();
    expect(record.reason).toBe('rights-request');
    const text = JSON.stringify(record);
    expect(text).not.toContain(me.email);
    expect(text).not.toContain('Test Person');

    const receipt = stack.postmark.to(me.email).filter((m) => m.Tag === 'rights-deletion-receipt');
    expect(receipt).toHaveLength(1);
    expect(receipt[0].TextBody).toContain('transaction records');
    await stack.api('POST', '/v1/auth/code', { json: { email: me.email } });
    expect(stack.postmark.to(me.email).filter((m) => m.Tag === 'sign-in-code')).toHaveLength(1); // only the one from sign-up
  });
});

describe('deadlines (§6)', () => {
  it('RG6 every request has a 30-day deadline and one nearing it is escalated to the privacy team once', async () => {
    const me = await signUp(stack);
    const worker = privacyWorker();
    await worker.pause();
    const at = stack.clock.now();
    try {
      const r = await stack.api('POST', '/v1/rights-requests', { token: me.token, json: { kind: 'access' } });
      expect(r.status).toBe(202);
      expect(Date.parse(r.body.due_at) - Date.parse(r.body.received_at)).toBe(30 * DAY_MS);
      expect(Date.parse(r.body.received_at)).toBe(at.getTime());

      const team = () =>
        stack.postmark
          .to(stack.config.PRIVACY_TEAM_EMAIL)
          .filter((m) => m.Tag === 'rights-escalation' && m.Subject.includes(r.body.id));
      stack.clock.advance(19 * DAY_MS);
      await sweepHandlers['sweep.rights-deadlines'](stack.ctx, {}, fakeJob);
      expect(team()).toHaveLength(0);

      stack.clock.advance(2 * DAY_MS);
      await sweepHandlers['sweep.rights-deadlines'](stack.ctx, {}, fakeJob);
      expect(team()).toHaveLength(1);
      expect(team()[0].TextBody).toContain(new Date(r.body.due_at).toISOString());
      expect((await rightsRow(r.body.id))!.escalated_at).not.toBeNull();
      await sweepHandlers['sweep.rights-deadlines'](stack.ctx, {}, fakeJob);
      expect(team()).toHaveLength(1);

      // The stuck export is still driven to completion once workers run again.
      await worker.resume();
      await until(async () => (await rightsRow(r.body.id))?.status === 'completed', 30_000, 'export after resume');
    } finally {
      if (worker.isPaused()) await worker.resume();
      stack.clock.set(at);
    }
  });
});

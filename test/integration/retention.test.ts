import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from 'bullmq';
import { DAY_MS } from '../../core/platform/config';
import { decryptField } from '../../core/platform/crypto';
import { overdueCounts } from '../../core/privacy/retention';
import { sweepHandlers } from '../../scheduler/sweeps';
import { seedPhotos, seedUser } from '../support/seed';
import { fixture, signIn, signUp, startStack, until, type Stack, uploadJudged } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { PRIVACY_CONCURRENCY: '4' } });
});
afterAll(async () => {
  await stack?.stop();
});

const sweep = () => sweepHandlers['sweep.retention'](stack.ctx, {}, {} as Job);
/** Runs one retention sweep and waits until the privacy jobs it fanned out are done. */
async function sweepAndSettle() {
  await sweep();
  const q = stack.ctx.queues.byName.privacy;
  await until(
    async () => {
      const c = await q.getJobCounts('wait', 'active', 'delayed', 'prioritized');
      return Object.values(c).every((n) => n === 0);
    },
    120_000,
    'privacy jobs to drain',
  );
}

async function orderedPerson() {
  const me = await signUp(stack);
  const photo = await uploadJudged(stack, me.token, await fixture('astronaut.png'));
  const created = await stack.api('POST', '/v1/orders', {
    token: me.token,
    json: { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [photo.id] },
  });
  const order = await until(
    async () => {
      const o = await stack.api('GET', `/v1/orders/${created.body.order.id}`, { token: me.token });
      return o.body.status === 'ready' && o.body;
    },
    60_000,
    'order ready',
  );
  return { ...me, photoId: photo.id as string, order };
}

const exists = async (table: 'photos' | 'headshots' | 'users', id: string) =>
  !!(await stack.ctx.db.selectFrom(table).select('id').where('id', '=', id).executeTakeFirst());
const objectKeys = async () => [
  ...(await stack.ctx.storage.listKeys('originals')),
  ...(await stack.ctx.storage.listKeys('headshots')),
];

describe('retention, enforced by the scheduler', () => {
  it('RT1 deletes originals 30 days after processing, from the store and the database, and not a day earlier', async () => {
    const p = await orderedPerson();
    const blob = await stack.ctx.db
      .selectFrom('photos')
      .innerJoin('blobs', 'blobs.id', 'photos.blob_id')
      .select(['blobs.object_key'])
      .where('photos.id', '=', p.photoId)
      .executeTakeFirstOrThrow();
    stack.clock.advance(29 * DAY_MS);
    await sweepAndSettle();
    expect(await exists('photos', p.photoId)).toBe(true);
    expect(await objectKeys()).toContain(blob.object_key);

    stack.clock.advance(1.5 * DAY_MS);
    await sweepAndSettle();
    expect(await exists('photos', p.photoId)).toBe(false);
    expect(await objectKeys()).not.toContain(blob.object_key);
    // The headshot made from it stays for its own period.
    expect(await exists('headshots', p.order.headshots[0].id)).toBe(true);
  });

  it('RT7 every deletion leaves a record of what was removed and when, without personal data', async () => {
    const records = await stack.ctx.db
      .selectFrom('deletion_records')
      .selectAll()
      .where('reason', '=', 'retention:originals')
      .execute();
    expect(records.length).toBeGreaterThan(0);
    const r = records[0];
    // The photo, its blob, the thumbnail made at preparation and the render preparation made once
    // it was judged usable, each with its blob.
    expect(r).toMatchObject({ subject_kind: 'photo', rows_deleted: 4, objects_deleted: 3 });
    expect(Object.keys(r.details as object).sort()).toEqual(['blob', 'prepared', 'thumbnail']);
    expect(r.subject_id).toMatch(/^pho_/);
    expect(new Date(r.performed_at).getTime()).toBe(stack.clock.now().getTime());
    const emails = (await stack.ctx.db.selectFrom('users').select('email_enc').execute()).map((u) =>
      decryptField(stack.ctx.pii, u.email_enc),
    );
    const all = JSON.stringify(await stack.ctx.db.selectFrom('deletion_records').selectAll().execute());
    for (const e of emails) expect(all).not.toContain(e);
    expect(all).not.toMatch(/@|Test Person/);
  });

  let expired: { id: string; objectKey: string };

  it('SD6 headshots can be downloaded again for 90 days after delivery, and not after', async () => {
    const p = await orderedPerson();
    const hs = p.order.headshots[0];
    stack.clock.advance(89 * DAY_MS);
    await sweepAndSettle();
    const token = await signIn(stack, p.email);
    expect((await stack.api('GET', hs.content_url, { token })).status).toBe(200);

    stack.clock.advance(1.5 * DAY_MS);
    // Past the window the download is refused even before the sweep has run.
    const late = await stack.api('GET', hs.content_url, { token });
    expect(late.status).toBe(410);
    expect(late.body.code).toBe('headshot_expired');
    const blob = await stack.ctx.db
      .selectFrom('headshots')
      .innerJoin('blobs', 'blobs.id', 'headshots.blob_id')
      .select('blobs.object_key')
      .where('headshots.id', '=', hs.id)
      .executeTakeFirstOrThrow();
    expired = { id: hs.id, objectKey: blob.object_key };
    await sweepAndSettle();
    const gone = await stack.api('GET', hs.content_url, { token });
    expect(gone.status).toBe(410);
  });

  it('RT2 deletes generated headshots 90 days after delivery, from the store and the database', async () => {
    expect(await exists('headshots', expired.id)).toBe(false);
    expect(await objectKeys()).not.toContain(expired.objectKey);
    const record = await stack.ctx.db
      .selectFrom('deletion_records')
      .selectAll()
      .where('subject_id', '=', expired.id)
      .executeTakeFirstOrThrow();
    expect(record).toMatchObject({ subject_kind: 'headshot', reason: 'retention:headshots', objects_deleted: 1 });
  });

  it('SD5 other styles can be ordered from the same photos while the originals are held, and not after', async () => {
    const p = await orderedPerson();
    stack.clock.advance(20 * DAY_MS);
    let token = await signIn(stack, p.email);
    const again = await stack.api('POST', `/v1/orders/${p.order.id}/reprocess`, {
      token,
      json: { style_ids: ['navy-gradient'] },
    });
    expect(again.status).toBe(201);
    expect(again.body.order.style_ids).toEqual(['navy-gradient']);
    expect(again.body.order.photos.map((ph: { id: string }) => ph.id)).toEqual([p.photoId]);
    const done = await until(
      async () => {
        const o = await stack.api('GET', `/v1/orders/${again.body.order.id}`, { token });
        return o.body.status === 'ready' && o.body;
      },
      60_000,
      'reprocessed order',
    );
    expect(done.headshots[0].style_id).toBe('navy-gradient');

    stack.clock.advance(11 * DAY_MS);
    await sweepAndSettle();
    token = await signIn(stack, p.email);
    const late = await stack.api('POST', `/v1/orders/${p.order.id}/reprocess`, {
      token,
      json: { style_ids: ['charcoal'] },
    });
    expect(late.status).toBe(410);
    expect(late.body.code).toBe('originals_expired');
  });

  it('RT3 warns a person 30 days before deleting their data 1 year after last use; signing in keeps the account', async () => {
    const keeper = await signUp(stack);
    const leaver = await signUp(stack);
    const staff = await seedUser(stack.ctx, stack.clock.now(), { role: 'support' });
    stack.clock.advance(336 * DAY_MS);
    await sweepAndSettle();
    for (const p of [keeper, leaver]) {
      const warnings = stack.postmark.to(p.email).filter((m) => m.Tag === 'retention-warning');
      expect(warnings).toHaveLength(1);
      expect(warnings[0].TextBody).toMatch(/sign in/i);
    }
    await sweepAndSettle();
    expect(stack.postmark.to(leaver.email).filter((m) => m.Tag === 'retention-warning')).toHaveLength(1);

    // The keeper signs in again: that is a use of the service.
    await signIn(stack, keeper.email);

    stack.clock.advance(30 * DAY_MS);
    await sweepAndSettle();
    expect(await exists('users', leaver.userId)).toBe(false);
    expect(await exists('users', keeper.userId)).toBe(true);
    expect(await exists('users', staff.id)).toBe(true);
    const record = await stack.ctx.db
      .selectFrom('deletion_records')
      .selectAll()
      .where('subject_id', '=', leaver.userId)
      .executeTakeFirstOrThrow();
    expect(record.reason).toBe('retention:personal-data');
  });

  it('PY2 transaction records survive account deletion pseudonymised, then are purged after 7 years', async () => {
    const p = await orderedPerson();
    const payment = await stack.ctx.db
      .selectFrom('payments')
      .selectAll()
      .where('order_id', '=', p.order.id)
      .executeTakeFirstOrThrow();
    stack.clock.advance(366 * DAY_MS);
    await sweepAndSettle();
    expect(await exists('users', p.userId)).toBe(false);
    const kept = await stack.ctx.db
      .selectFrom('payments')
      .selectAll()
      .where('id', '=', payment.id)
      .executeTakeFirstOrThrow();
    expect(kept.user_id).toBeNull();
    expect(kept.pseudonym).toMatch(/^psn_[0-9a-f]{24}$/);
    expect(kept.amount_cents).toBe(payment.amount_cents);

    stack.clock.set(new Date(new Date(payment.created_at).getTime() + 7 * 365 * DAY_MS - DAY_MS));
    await sweepAndSettle();
    expect(
      await stack.ctx.db.selectFrom('payments').select('id').where('id', '=', payment.id).executeTakeFirst(),
    ).toBeDefined();
    stack.clock.advance(2 * DAY_MS);
    await sweepAndSettle();
    expect(
      await stack.ctx.db.selectFrom('payments').select('id').where('id', '=', payment.id).executeTakeFirst(),
    ).toBeUndefined();
  });

  it('RT4 purges transaction records 7 years after the transaction, and not a day before', async () => {
    const now = stack.clock.now().getTime();
    const row = (id: string, ageDays: number) => ({
      id,
      order_id: null,
      user_id: null,
      processor: 'local',
      processor_ref: `ref_${id}`,
      amount_cents: 1900,
      currency: 'EUR',
      status: 'succeeded' as const,
      created_at: new Date(now - ageDays * DAY_MS),
      succeeded_at: new Date(now - ageDays * DAY_MS),
      pseudonym: 'psn_test',
    });
    await stack.ctx.db
      .insertInto('payments')
      .values([row('pay_old1', 7 * 365 + 1), row('pay_young1', 7 * 365 - 1)])
      .execute();
    await sweepAndSettle();
    const left = (
      await stack.ctx.db.selectFrom('payments').select('id').where('id', 'in', ['pay_old1', 'pay_young1']).execute()
    ).map((r) => r.id);
    expect(left).toEqual(['pay_young1']);
    expect(
      await stack.ctx.db
        .selectFrom('deletion_records')
        .select('reason')
        .where('subject_id', '=', 'pay_old1')
        .executeTakeFirst(),
    ).toEqual({ reason: 'retention:transactions' });
  });

  it('RT1 10,000 photos past retention: one sweep removes every object and row, and nothing is overdue after it', async () => {
    const owner = await seedUser(stack.ctx, stack.clock.now());
    const processedAt = new Date(stack.clock.now().getTime() - 31 * DAY_MS);
    const ids = await seedPhotos(stack.ctx, owner.id, 10_000, processedAt);
    expect((await overdueCounts(stack.ctx)).RT1).toBeGreaterThanOrEqual(10_000);
    await sweepAndSettle();
    const left = await stack.ctx.db.selectFrom('photos').select('id').where('id', 'in', ids).execute();
    expect(left).toHaveLength(0);
    expect(await stack.ctx.db.selectFrom('blobs').select('id').where('user_id', '=', owner.id).execute()).toHaveLength(
      0,
    );
    expect(await stack.ctx.storage.listKeys('originals')).toHaveLength(0);
    expect((await overdueCounts(stack.ctx)).RT1).toBe(0);
  }, 240_000);
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { complianceReport } from '../../core/privacy/compliance';
import { DAY_MS } from '../../core/platform/config';
import { newId } from '../../core/platform/crypto';
import { createLogger } from '../../core/platform/logger';
import { createRightsRequest } from '../../core/privacy/rights';
import type { Running } from '../../core/platform/roles';
import { startRole } from '../../main';
import { SCHEDULE } from '../../scheduler';
import { seedHeadshots, seedPhotos, seedUser } from '../support/seed';
import { signUp, startStack, until, type Stack } from '../support/stack';

/**
 * The scheduler role is down for 3 days of the service clock while every kind of deadline it keeps
 * passes; then the real role starts (its job schedulers run each sweep at once), and each sweep's
 * next run is brought forward for a second round. Nothing here calls a sweep.
 */
let stack: Stack;
const roles: Running[] = [];
const start = async (role: 'worker' | 'scheduler') => {
  const r = await startRole(role, stack.config, { clock: stack.clock, migrate: false, logger: createLogger('silent') });
  roles.push(r);
  return r;
};
beforeAll(async () => {
  stack = await startStack({ role: 'api' });
  await start('worker'); // privacy and delivery jobs the sweeps fan out
});
afterAll(async () => {
  for (const r of roles.reverse()) await r.stop();
  await stack?.stop();
});

const overdueByPromise = async () => {
  const out: Record<string, number> = {};
  for (const r of await complianceReport(stack.ctx)) out[r.promise] = (out[r.promise] ?? 0) + r.overdue;
  return out;
};

/** At least `n` sweeps have run in all and what they fanned out is done (a sweep's next run waits as a delayed job). */
const settled = (n: number) =>
  until(
    async () => {
      const { sweeps, privacy, delivery } = stack.ctx.queues.byName;
      const s = await sweeps.getJobCounts('completed', 'wait', 'active');
      if (s.completed < n || s.wait + s.active > 0) return false;
      for (const q of [privacy, delivery])
        if (Object.values(await q.getJobCounts('wait', 'active', 'delayed', 'prioritized')).some((v) => v > 0))
          return false;
      return true;
    },
    90_000,
    `${n} sweeps and their jobs to finish`,
  );

describe('the scheduler down for 3 days', () => {
  it('RT1 RT2 RT3 RT4 RT6 RG1 RG6 BR1 CT1 after its first run nothing is overdue, and a second run sends no notice twice', async () => {
    const { ctx } = stack;
    const c = ctx.config;
    const now = stack.clock.now().getTime();
    const ago = (days: number) => new Date(now - days * DAY_MS);
    // Work that is due, or falls due while the scheduler is down.
    const owner = await seedUser(ctx, new Date(now));
    await seedPhotos(ctx, owner.id, 12, ago(c.RETENTION_ORIGINALS_DAYS - 1)); // RT1
    await seedHeadshots(ctx, owner.id, 6, ago(c.RETENTION_HEADSHOTS_DAYS - 1)); // RT2
    const idle = await seedUser(ctx, ago(c.RETENTION_PERSONAL_DATA_DAYS - 1)); // RT3: deleted
    const fading = await seedUser(ctx, ago(c.RETENTION_PERSONAL_DATA_DAYS - c.RETENTION_WARNING_DAYS - 1)); // RT3: warned
    await ctx.db
      .insertInto('payments')
      .values({
        id: newId('pay'),
        order_id: null,
        user_id: null,
        processor: 'local',
        processor_ref: 'ref_old',
        amount_cents: 1900,
        currency: 'EUR',
        status: 'succeeded',
        created_at: ago(c.RETENTION_TRANSACTIONS_DAYS - 1),
        succeeded_at: ago(c.RETENTION_TRANSACTIONS_DAYS - 1),
        pseudonym: 'psn_old',
      })
      .execute(); // RT4
    await ctx.db
      .insertInto('analytics_events')
      .values({
        id: newId('evt'),
        visitor_id: 'v1',
        user_id: null,
        name: 'page.view',
        path: '/',
        ip_truncated: '203.0.113.0',
        browser: 'Firefox',
        device: 'desktop',
        occurred_at: ago(c.USAGE_DATA_RETENTION_DAYS - 1),
      })
      .execute(); // RT6
    const exportBlob = await ctx.storage.put(ctx.db, {
      userId: owner.id,
      role: 'headshots',
      contentType: 'application/zip',
      data: Buffer.from('zip'),
      at: ago(c.EXPORT_RETENTION_DAYS - 1),
    });
    const exported = await createRightsRequest(ctx, { userId: owner.id, kind: 'access', status: 'completed' });
    await ctx.db
      .updateTable('rights_requests')
      .set({ export_blob_id: exportBlob.id, completed_at: ago(c.EXPORT_RETENTION_DAYS - 1) })
      .where('id', '=', exported.id)
      .execute(); // RG1
    const waiting = await createRightsRequest(ctx, {
      userId: owner.id,
      kind: 'restriction',
      status: 'open',
      details: { purposes: ['marketing'] },
    });
    await ctx.db
      .updateTable('rights_requests')
      .set({ received_at: ago(c.RIGHTS_ESCALATE_AFTER_DAYS - 1) })
      .where('id', '=', waiting.id)
      .execute(); // RG6
    const officer = await signUp(stack);
    await ctx.db.updateTable('users').set({ role: 'privacy_officer' }).where('id', '=', officer.userId).execute();
    const victims = [await signUp(stack), await signUp(stack), await signUp(stack)];
    const breach = await stack.api('POST', '/v1/staff/breaches', {
      token: officer.token,
      json: {
        description: 'Test incident',
        detected_at: new Date(now).toISOString(),
        affected: { user_ids: victims.map((v) => v.userId) },
      },
    });
    expect(breach.status).toBe(201); // BR1
    const asker = await signUp(stack);
    expect(
      (
        await stack.api('POST', '/v1/inquiries', {
          token: asker.token,
          json: { kind: 'privacy', subject: 'My data', message: 'What do you hold about me?' },
        })
      ).status,
    ).toBe(201); // CT1

    stack.clock.advance(3 * DAY_MS);
    const before = await overdueByPromise();
    for (const p of ['RT1', 'RT2', 'RT3', 'RT4', 'RT6', 'RG1', 'RG6', 'BR1', 'CT1'])
      expect(before[p], `${p} overdue after 3 days down`).toBeGreaterThan(0);

    // It starts: each job scheduler runs its sweep at once.
    await start('scheduler');
    await settled(SCHEDULE.length);
    const after = await overdueByPromise();
    expect(Object.entries(after).filter(([, n]) => n > 0)).toEqual([]);
    expect(await ctx.db.selectFrom('users').select('id').where('id', '=', idle.id).executeTakeFirst()).toBeUndefined();

    // A second run: every sweep's next run, brought forward, finds nothing left to send.
    const sentAfterFirst = stack.postmark.sent.length;
    const { sweeps } = ctx.queues.byName;
    const ranSoFar = (await sweeps.getJobCounts('completed')).completed;
    const next = await sweeps.getJobs(['delayed']);
    expect(next.map((j) => j.name).sort()).toEqual(SCHEDULE.map((s) => s.job).sort());
    for (const j of next) await j.promote();
    await settled(ranSoFar + SCHEDULE.length);
    expect(stack.postmark.sent.length).toBe(sentAfterFirst);

    // Each notice went once: to each affected person, to the person about to be deleted, and to
    // the privacy team once per escalated item.
    const notices = [
      'breach-notice',
      'breach-escalation',
      'retention-warning',
      'rights-escalation',
      'inquiry-escalation',
    ];
    const sent = stack.postmark.sent.filter((m) => notices.includes(m.Tag ?? ''));
    const seen = new Map<string, number>();
    for (const m of sent)
      seen.set(`${m.Tag} → ${m.To}: ${m.Subject}`, (seen.get(`${m.Tag} → ${m.To}: ${m.Subject}`) ?? 0) + 1);
    expect([...seen].filter(([, n]) => n > 1)).toEqual([]);
    const byTag = (tag: string) => sent.filter((m) => m.Tag === tag);
    expect(
      byTag('breach-notice')
        .map((m) => m.To)
        .sort(),
    ).toEqual(victims.map((v) => v.email).sort());
    expect(byTag('retention-warning').map((m) => m.To)).toContain(fading.email);
    for (const tag of ['breach-escalation', 'rights-escalation', 'inquiry-escalation'])
      expect(byTag(tag), tag).toHaveLength(1);
  }, 180_000);
});

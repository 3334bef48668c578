import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS } from '../../core/platform/config';
import { newId } from '../../core/platform/crypto';
import { startWorkers, type Workers } from '../../core/platform/workers';
import { sweepHandlers } from '../../scheduler/sweeps';
import { pipelineHandlers } from '../../worker/handlers';
import { PIPELINE_QUEUES } from '../../core/platform/queues';
import { seedPhotos, seedUser } from '../support/seed';
import { fixture, footprint, multipart, signUp, startStack, until, type Stack } from '../support/stack';

let stack: Stack;
let workers: Workers;
let admin: { token: string; userId: string };
let officer: { token: string; userId: string };

beforeAll(async () => {
  // The API plus pipeline workers; the scheduler's sweeps are run by the test, as a restarted scheduler would.
  stack = await startStack({ role: 'api' });
  workers = await startWorkers(stack.ctx, PIPELINE_QUEUES, pipelineHandlers);
  admin = await staff('admin');
  officer = await staff('privacy_officer');
});
afterAll(async () => {
  await workers?.close();
  await stack?.stop();
});

async function staff(role: 'admin' | 'privacy_officer') {
  const s = await signUp(stack);
  await stack.ctx.db.updateTable('users').set({ role }).where('id', '=', s.userId).execute();
  return s;
}

/** One run of every sweep the scheduler has, then wait for the jobs they fanned out. */
async function runScheduler() {
  for (const [name, handler] of Object.entries(sweepHandlers))
    await (handler as (c: typeof stack.ctx, d: object, j: Job) => Promise<void>)(stack.ctx, {}, { name } as Job);
  await until(
    async () => {
      for (const q of ['privacy', 'delivery'] as const) {
        const c = await stack.ctx.queues.byName[q].getJobCounts('wait', 'active', 'delayed', 'prioritized');
        if (Object.values(c).some((n) => n > 0)) return false;
      }
      return true;
    },
    60_000,
    'fanned-out jobs',
  );
}

const report = async () => (await stack.api('GET', '/v1/staff/compliance', { token: admin.token })).body;

describe('minors (PH4)', () => {
  it("PH4 a photo of a minor is refused without the uploader's attestation of parental authority, and nothing is stored", async () => {
    const me = await signUp(stack);
    const before = await footprint(stack);
    const form = multipart('photo', await fixture('astronaut.png'));
    form.append('subject', 'minor');
    const res = await stack.api('POST', '/v1/photos', { token: me.token, body: form });
    expect(res.status).toBe(422);
    expect(res.body.code).toBe('parental_attestation_required');
    expect(await footprint(stack)).toEqual(before);

    const attested = multipart('photo', await fixture('astronaut.png'));
    attested.append('subject', 'minor');
    attested.append('parental_authority', 'true');
    const ok = await stack.api('POST', '/v1/photos', { token: me.token, body: attested });
    expect(ok.status).toBe(201);
    const row = await stack.ctx.db
      .selectFrom('photos')
      .selectAll()
      .where('id', '=', ok.body.id)
      .executeTakeFirstOrThrow();
    expect(row.subject).toBe('minor');
    expect(row.parental_attestation_at).not.toBeNull();
  });

  it("PH4 a minor's photo found without consent is deleted at once, with its object and a deletion record", async () => {
    const me = await signUp(stack);
    const up = await stack.api('POST', '/v1/photos', {
      token: me.token,
      body: multipart('photo', await fixture('astronaut.png')),
    });
    const blob = await stack.ctx.db
      .selectFrom('blobs')
      .innerJoin('photos', 'photos.blob_id', 'blobs.id')
      .select('blobs.object_key')
      .where('photos.id', '=', up.body.id)
      .executeTakeFirstOrThrow();
    const customer = await stack.api('POST', `/v1/staff/photos/${up.body.id}/minor`, { token: me.token });
    expect(customer.status).toBe(403);
    const res = await stack.api('POST', `/v1/staff/photos/${up.body.id}/minor`, { token: officer.token });
    expect(res.body).toMatchObject({ deleted: true, photo_id: up.body.id });
    expect(
      await stack.ctx.db.selectFrom('photos').select('id').where('id', '=', up.body.id).executeTakeFirst(),
    ).toBeUndefined();
    expect(await stack.ctx.storage.listKeys('originals')).not.toContain(blob.object_key);
    const record = await stack.ctx.db
      .selectFrom('deletion_records')
      .selectAll()
      .where('subject_id', '=', up.body.id)
      .executeTakeFirstOrThrow();
    expect(record.reason).toBe('minor-without-consent');
  });
});

describe('the compliance report', () => {
  it('RT1 RT6 BR1 CT1 counts overdue items before a sweep, none after it; after 3 days down the scheduler catches up and sends no notice twice', async () => {
    const now = stack.clock.now();
    // Seeded past their deadlines: old originals, old usage data, a person affected by a breach, an unanswered inquiry.
    const owner = await seedUser(stack.ctx, now);
    await seedPhotos(stack.ctx, owner.id, 25, new Date(now.getTime() - 31 * DAY_MS));
    await stack.ctx.db
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
        occurred_at: new Date(now.getTime() - 400 * DAY_MS),
      })
      .execute();
    const victims = [await signUp(stack), await signUp(stack)];
    const breach = await stack.api('POST', '/v1/staff/breaches', {
      token: officer.token,
      json: {
        description: 'Test incident',
        detected_at: now.toISOString(),
        affected: { user_ids: victims.map((v) => v.userId) },
      },
    });
    expect(breach.status).toBe(201);
    const asker = await signUp(stack);
    expect(
      (
        await stack.api('POST', '/v1/inquiries', {
          token: asker.token,
          json: { kind: 'privacy', subject: 'My data', message: 'What do you hold about me?' },
        })
      ).status,
    ).toBe(201);

    // The scheduler is down for 3 days: every deadline above passes.
    stack.clock.advance(3 * DAY_MS);
    const before = await report();
    const overdue: Record<string, number> = {};
    for (const r of before.items as { promise: string; overdue: number }[])
      overdue[r.promise] = (overdue[r.promise] ?? 0) + r.overdue;
    expect(overdue.RT1).toBeGreaterThanOrEqual(25);
    expect(overdue.RT6).toBeGreaterThanOrEqual(1);
    expect(overdue.CT1).toBe(1);

    // It starts: one round of sweeps, then everything is handled.
    await runScheduler();
    const after = await report();
    expect(after.items.filter((r: { overdue: number }) => r.overdue > 0)).toEqual([]);
    expect(after.overdue_total).toBe(0);
    await runScheduler();
    for (const v of victims)
      expect(stack.postmark.to(v.email).filter((m) => m.Tag === 'breach-notice')).toHaveLength(1);
    expect((await stack.api('GET', '/v1/staff/compliance', { token: officer.token })).status).toBe(403);
  });

  it('npm run compliance prints the report and exits 0 when nothing is overdue', async () => {
    const env = {
      ...process.env,
      DATABASE_URL: stack.config.DATABASE_URL,
      S3_ENDPOINT: stack.config.S3_ENDPOINT!,
      S3_BUCKET_ORIGINALS: stack.config.S3_BUCKET_ORIGINALS,
      S3_BUCKET_HEADSHOTS: stack.config.S3_BUCKET_HEADSHOTS,
      QUEUE_PREFIX: stack.config.QUEUE_PREFIX,
      NODE_ENV: 'test',
    };
    const { stdout } = await promisify(execFile)('npx', ['tsx', 'scripts/compliance.ts'], {
      env,
      timeout: 60_000,
    }).catch((err: { stdout: string; stderr: string }) => {
      throw new Error(`compliance failed:\n${err.stdout}\n${err.stderr}`);
    });
    expect(stdout).toMatch(/^RT1 .*\s0 overdue$/m);
    expect(stdout).toMatch(/^BR1 /m);
  });
});

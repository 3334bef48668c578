import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptField } from '../../core/platform/crypto';
import { addBusinessHours } from '../../core/privacy/inquiries';
import { sweepHandlers } from '../../scheduler/sweeps';
import { fixture, signUp, startStack, type Stack, uploadJudged } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ role: 'api', env: { LOCAL_PAYMENT_AUTO_CONFIRM: 'false' } });
});
afterAll(async () => {
  await stack?.stop();
});

async function staff(role: 'support' | 'privacy_officer' | 'admin') {
  const s = await signUp(stack);
  await stack.ctx.db.updateTable('users').set({ role }).where('id', '=', s.userId).execute();
  return s;
}

const sweep = () => sweepHandlers['sweep.inquiry-deadlines'](stack.ctx, {}, {} as Job);
const team = (inquiryId: string) =>
  stack.postmark
    .to(stack.config.PRIVACY_TEAM_EMAIL)
    .filter((m) => m.Tag === 'inquiry-escalation' && m.Subject.includes(inquiryId));
const at = (s: string) => new Date(s);

describe('inquiries', () => {
  it('CT1 first answers are due 24 business hours later: weekends (UTC) do not count', () => {
    expect(stack.config.INQUIRY_FIRST_RESPONSE_BUSINESS_HOURS).toBe(24);
    // Friday 18:00 counts 6 hours on Friday, skips the weekend and the other 18 on Monday.
    expect(addBusinessHours(at('2026-12-04T18:00:00Z'), 24).toISOString()).toBe('2026-12-07T18:00:00.000Z');
    expect(addBusinessHours(at('2026-12-07T09:00:00Z'), 24).toISOString()).toBe('2026-12-08T09:00:00.000Z'); // Monday to Tuesday
    expect(addBusinessHours(at('2026-12-05T10:00:00Z'), 24).toISOString()).toBe('2026-12-08T00:00:00.000Z'); // Saturday: counting starts Monday 00:00
    expect(addBusinessHours(at('2026-12-06T23:59:00Z'), 24).toISOString()).toBe('2026-12-08T00:00:00.000Z'); // Sunday night likewise
    expect(addBusinessHours(at('2026-12-04T00:00:00Z'), 24).toISOString()).toBe('2026-12-05T00:00:00.000Z'); // all of Friday
    expect(addBusinessHours(at('2026-12-03T12:00:00Z'), 48).toISOString()).toBe('2026-12-07T12:00:00.000Z'); // Thursday noon + 2 business days
  });

  it('CT1 inquiries are stored encrypted with their deadlines, answered by email, and escalated once per deadline', async () => {
    stack.clock.set('2026-12-11T18:00:00Z'); // a Friday, after the newest policy version took effect
    const person = await signUp(stack);
    const other = await signUp(stack);
    const support = await staff('support');

    const filed = await stack.api('POST', '/v1/inquiries', {
      token: person.token,
      json: {
        kind: 'privacy',
        subject: 'Where is my data stored?',
        message: 'Please tell me which countries hold my photos.',
      },
    });
    expect(filed.status).toBe(201);
    const id = filed.body.id;
    expect(filed.body).toMatchObject({
      kind: 'privacy',
      status: 'open',
      received_at: '2026-12-11T18:00:00.000Z',
      first_response_due: '2026-12-14T18:00:00.000Z',
      resolution_due: '2027-01-10T18:00:00.000Z',
      first_responded_at: null,
    });

    // Anonymous: the email is required, and kept inside the encrypted body.
    expect(
      (await stack.api('POST', '/v1/inquiries', { json: { kind: 'support', subject: 'Hi', message: 'Hello' } })).body
        .code,
    ).toBe('email_required');
    expect(
      (
        await stack.api('POST', '/v1/inquiries', {
          token: 'x'.repeat(40),
          json: { kind: 'support', subject: 'Hi', message: 'Hello' },
        })
      ).status,
    ).toBe(401);
    const anon = await stack.api('POST', '/v1/inquiries', {
      json: {
        kind: 'support',
        subject: 'Billing question',
        message: 'Was I charged twice?',
        email: 'Visitor@Example.com',
      },
    });
    expect(anon.status).toBe(201);
    const rows = await stack.ctx.db.selectFrom('inquiries').selectAll().execute();
    const dump = JSON.stringify(rows);
    for (const clear of ['Where is my data', 'which countries', 'visitor@example.com', 'Billing question'])
      expect(dump).not.toContain(clear);
    const anonRow = rows.find((r) => r.id === anon.body.id)!;
    expect(anonRow.user_id).toBeNull();
    expect(JSON.parse(decryptField(stack.ctx.pii, anonRow.body_enc)).email).toBe('visitor@example.com');

    // Only the owner reads it back.
    expect((await stack.api('GET', `/v1/inquiries/${id}`, { token: person.token })).body.subject).toBe(
      'Where is my data stored?',
    );
    expect((await stack.api('GET', `/v1/inquiries/${id}`, { token: other.token })).status).toBe(404);

    // Monday 13:00 (5 hours before the first answer is due): nothing yet. 14:30 (3.5 hours before): the team hears, once.
    stack.clock.set('2026-12-14T13:00:00Z');
    await sweep();
    expect(team(id)).toHaveLength(0);
    stack.clock.set('2026-12-14T14:30:00Z');
    await sweep();
    await sweep();
    expect(team(id)).toHaveLength(1);
    expect(team(id)[0].Subject).toMatch(/first answer/);
    expect(team(id)[0].TextBody).not.toContain(person.email);
    expect(team(anon.body.id)).toHaveLength(1);

    // Staff answer by email; the first-response time is recorded. Customers cannot answer.
    expect(
      (await stack.api('POST', `/v1/staff/inquiries/${id}/responses`, { token: other.token, json: { message: 'x' } }))
        .status,
    ).toBe(403);
    const answered = await stack.api('POST', `/v1/staff/inquiries/${id}/responses`, {
      token: support.token,
      json: { message: 'Your photos are stored in the EU only.' },
    });
    expect(answered.status).toBe(201);
    expect(answered.body).toMatchObject({
      status: 'answered',
      first_responded_at: '2026-12-14T14:30:00.000Z',
      resolved_at: null,
    });
    const mail = stack.postmark.to(person.email).filter((m) => m.Tag === 'inquiry-response');
    expect(mail).toHaveLength(1);
    expect(mail[0].TextBody).toContain('stored in the EU only');
    await stack.api('POST', `/v1/staff/inquiries/${anon.body.id}/responses`, {
      token: support.token,
      json: { message: 'No, only once.', resolve: true },
    });
    expect(stack.postmark.to('visitor@example.com').filter((m) => m.Tag === 'inquiry-response')).toHaveLength(1);
    expect((await stack.api('GET', `/v1/inquiries/${id}`, { token: person.token })).body.responses).toEqual([
      { at: '2026-12-14T14:30:00.000Z', message: 'Your photos are stored in the EU only.' },
    ]);

    // Three hours before the 30-day resolution deadline, the unresolved one escalates once more (and only once).
    stack.clock.set('2027-01-10T15:00:00Z');
    await sweep();
    await sweep();
    expect(team(id)).toHaveLength(2);
    expect(team(id)[1].Subject).toMatch(/resolution/);
    expect(team(anon.body.id)).toHaveLength(1); // resolved: no escalation
    const officer = await staff('support');
    const resolved = await stack.api('POST', `/v1/staff/inquiries/${id}/responses`, {
      token: officer.token,
      json: { message: 'Closing this.', resolve: true },
    });
    expect(resolved.body).toMatchObject({
      status: 'resolved',
      resolved_at: '2027-01-10T15:00:00.000Z',
      first_responded_at: '2026-12-14T14:30:00.000Z',
    });
    stack.clock.set('2027-01-17T00:00:00Z');
    await sweep();
    expect(team(id)).toHaveLength(2);
  });
});

describe('staff access', () => {
  it('SC3 every staff read of a person is audited with ids only; customers get 403; the log is append-only', async () => {
    const person = await signUp(stack, { phone: '+41791112233' });
    const photo = (await uploadJudged(stack, person.token, await fixture('astronaut.png'))).id;
    expect(
      (
        await stack.api('POST', '/v1/orders', {
          token: person.token,
          json: { package_id: 'starter', style_ids: ['studio-grey'], photo_ids: [photo] },
        })
      ).status,
    ).toBe(201);
    const support = await staff('support');
    const officer = await staff('privacy_officer');
    const customer = await signUp(stack);

    expect((await stack.api('GET', `/v1/staff/users/${person.userId}`)).status).toBe(401);
    const denied = await stack.api('GET', `/v1/staff/users/${person.userId}`, { token: customer.token });
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe('forbidden');
    expect((await stack.api('GET', `/v1/staff/users/${person.userId}/orders`, { token: customer.token })).status).toBe(
      403,
    );

    const view = await stack.api('GET', `/v1/staff/users/${person.userId}`, { token: support.token });
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({
      id: person.userId,
      email: person.email,
      name: 'Test Person',
      phone: '+41791112233',
      counts: { photos: 1, orders: 1 },
    });
    const orders = await stack.api('GET', `/v1/staff/users/${person.userId}/orders`, { token: support.token });
    expect(orders.body.items).toHaveLength(1);

    const log = await stack.ctx.db
      .selectFrom('audit_log')
      .selectAll()
      .where('subject_user_id', '=', person.userId)
      .orderBy('id')
      .execute();
    expect(log.map((r) => [r.actor_id, r.actor_role, r.action, r.resource])).toEqual([
      [support.userId, 'support', 'read', 'user'],
      [support.userId, 'support', 'list', 'orders'],
    ]);
    const everything = JSON.stringify(await stack.ctx.db.selectFrom('audit_log').selectAll().execute());
    for (const pii of [person.email, 'Test Person', '+41791112233', '41791112233'])
      expect(everything).not.toContain(pii);

    // The log is for privacy officers (and admins); support cannot read it.
    expect((await stack.api('GET', '/v1/staff/audit-log', { token: support.token })).status).toBe(403);
    const page1 = await stack.api('GET', `/v1/staff/audit-log?limit=1&subject_user_id=${person.userId}`, {
      token: officer.token,
    });
    expect(page1.body.items).toHaveLength(1);
    expect(page1.body.items[0]).toMatchObject({ action: 'list', subject_user_id: person.userId });
    const page2 = await stack.api(
      'GET',
      `/v1/staff/audit-log?limit=1&subject_user_id=${person.userId}&cursor=${page1.body.next_cursor}`,
      { token: officer.token },
    );
    expect(page2.body.items[0]).toMatchObject({ action: 'read', resource_id: person.userId });
    expect(page2.body.next_cursor).toBeNull();

    // Append-only, even for code holding the database handle.
    await expect(stack.ctx.db.updateTable('audit_log').set({ action: 'nothing' }).execute()).rejects.toThrow(
      /append-only/,
    );
    await expect(stack.ctx.db.deleteFrom('audit_log').execute()).rejects.toThrow(/append-only/);
    expect(
      await stack.ctx.db.selectFrom('audit_log').select('id').where('subject_user_id', '=', person.userId).execute(),
    ).toHaveLength(2);
  });
});

import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS } from '../../core/platform/config';
import { recordConsent } from '../../core/privacy/consent';
import { newId } from '../../core/platform/crypto';
import { sendCampaignEmail, unsubscribeUrl } from '../../core/privacy/marketing';
import { sweepHandlers } from '../../scheduler/sweeps';
import { signUp, startStack, until, type Stack } from '../support/stack';

let stack: Stack;
let admin: { token: string };
beforeAll(async () => {
  stack = await startStack();
  const a = await signUp(stack);
  await stack.ctx.db.updateTable('users').set({ role: 'admin' }).where('id', '=', a.userId).execute();
  admin = a;
});
afterAll(async () => {
  await stack?.stop();
});

const fakeJob = {} as Job;
const CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

/** A browser: keeps the essential visitor cookie the server sets. */
function browser() {
  let cookie = '';
  return {
    get cookie() {
      return cookie;
    },
    async call(
      method: string,
      path: string,
      init: { token?: string; json?: unknown; headers?: Record<string, string> } = {},
    ) {
      const r = await stack.api(method, path, {
        ...init,
        headers: { 'user-agent': CHROME, ...(cookie ? { cookie } : {}), ...init.headers },
      });
      const set = r.headers.getSetCookie().find((c) => c.startsWith('rasmi_vid='));
      if (set) cookie = set.split(';')[0];
      return r;
    },
    visitorId: () => cookie.split('=')[1],
  };
}

const events = (visitorId: string) =>
  stack.ctx.db.selectFrom('analytics_events').selectAll().where('visitor_id', '=', visitorId).execute();

async function sendCampaign(subject: string): Promise<string> {
  const r = await stack.api('POST', '/v1/admin/marketing/send', {
    token: admin.token,
    json: { subject, text: 'Three new studio styles are here.' },
  });
  expect(r.status).toBe(202);
  const id = r.body.campaign_id as string;
  // Settled: fanned out and every per-person job has run.
  await until(
    async () => {
      const c = await stack.ctx.db
        .selectFrom('marketing_campaigns')
        .select('fanned_out_at')
        .where('id', '=', id)
        .executeTakeFirst();
      if (!c?.fanned_out_at) return false;
      const counts = await stack.ctx.queues.byName.privacy.getJobCounts('wait', 'active', 'delayed', 'prioritized');
      return Object.values(counts).every((n) => n === 0);
    },
    20_000,
    `campaign ${subject}`,
  );
  return id;
}

const marketingMail = (email: string) => stack.postmark.to(email).filter((m) => m.Tag === 'marketing');

describe('consent and tracking', () => {
  it('CN1 marketing is off by default, needs opt-in, and every email has a working one-click unsubscribe', async () => {
    const ada = await signUp(stack);
    const bob = await signUp(stack);
    const initial = await stack.api('GET', '/v1/me/consents', { token: ada.token });
    expect(initial.status).toBe(200);
    expect(initial.body.consents).toEqual({
      marketing: false,
      analytics: false,
      service_improvement: false,
      portfolio: false,
      whatsapp: false,
    });
    expect(initial.body.history).toEqual([]);

    await sendCampaign('Before anyone opted in');
    expect(marketingMail(ada.email)).toHaveLength(0);

    const optIn = await stack.api('PUT', '/v1/me/consents', { token: ada.token, json: { marketing: true } });
    expect(optIn.status).toBe(200);
    expect(optIn.body.consents.marketing).toBe(true);
    expect(optIn.body.history[0]).toMatchObject({ purpose: 'marketing', granted: true, source: 'settings' });

    await sendCampaign('New styles');
    const [mail] = marketingMail(ada.email);
    expect(mail.Subject).toBe('New styles');
    expect(mail.MessageStream).toBe('broadcast'); // marketing is kept apart from order and account mail
    expect(stack.postmark.to(ada.email).find((m) => m.Tag !== 'marketing')?.MessageStream).toBe('outbound');
    expect(marketingMail(bob.email)).toHaveLength(0);
    const header = (n: string) => mail.Headers?.find((h) => h.Name === n)?.Value;
    const listUnsubscribe = /^<(https?:\/\/[^>]+\/v1\/unsubscribe\/[^>]+)>$/.exec(header('List-Unsubscribe') ?? '');
    expect(listUnsubscribe).not.toBeNull();
    expect(header('List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
    const url = listUnsubscribe![1];
    // The body's link opens the web client's unsubscribe screen with the same token (followed in Chromium by the web tests).
    const token = url.split('/').at(-1)!;
    expect(mail.TextBody).toContain(`${stack.ctx.publicUrl}/app/#/unsubscribe?token=${token}`);

    // A tampered link is refused; the real one works without sign-in, as a mail client posts it (RFC 8058).
    const path = new URL(url).pathname;
    expect(
      (
        await stack.api('POST', `${path.slice(0, -2)}xx`, {
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'List-Unsubscribe=One-Click',
        })
      ).status,
    ).toBe(404);
    const oneClick = await stack.api('POST', path, {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(oneClick.status).toBe(200);
    const after = await stack.api('GET', '/v1/me/consents', { token: ada.token });
    expect(after.body.consents.marketing).toBe(false);
    expect(after.body.history[0]).toMatchObject({ purpose: 'marketing', granted: false, source: 'unsubscribe-link' });

    const third = await sendCampaign('After the unsubscribe');
    expect(marketingMail(ada.email)).toHaveLength(1);
    // A job already queued before the withdrawal re-checks consent when it runs.
    expect(await sendCampaignEmail(stack.ctx, third, ada.userId)).toBe(false);
    expect(marketingMail(ada.email)).toHaveLength(1);
  });

  it('CN1 the unsubscribe link opened in a browser asks for one click, so a link scanner fetching it unsubscribes no one', async () => {
    const cy = await signUp(stack);
    await stack.api('PUT', '/v1/me/consents', { token: cy.token, json: { marketing: true } });
    const path = new URL(unsubscribeUrl(stack.ctx, cy.userId)).pathname;
    const page = await stack.api('GET', path);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = page.body.toString();
    expect(html).toContain(`<form method="post" action="${path}">`);
    expect((await stack.api('GET', '/v1/me/consents', { token: cy.token })).body.consents.marketing).toBe(true);
    // The button posts the form: the browser gets a page, and the consent is withdrawn.
    const done = await stack.api('POST', path, {
      headers: { accept: 'text/html,application/xhtml+xml', 'content-type': 'application/x-www-form-urlencoded' },
      body: '',
    });
    expect(done.status).toBe(200);
    expect(done.headers.get('content-type')).toMatch(/text\/html/);
    expect(done.body.toString()).toMatch(/you are unsubscribed/i);
    expect((await stack.api('GET', '/v1/me/consents', { token: cy.token })).body.consents.marketing).toBe(false);
    expect((await stack.api('GET', `${path.slice(0, -2)}xx`)).status).toBe(404);
  });

  it('RT5 unsubscribing or withdrawing removes marketing data: sent-campaign records and marketing tracking', async () => {
    const db = stack.ctx.db;
    const marketingData = async (userId: string) => ({
      emails: (
        await db
          .selectFrom('notifications')
          .select('id')
          .where('user_id', '=', userId)
          .where('kind', '=', 'marketing')
          .execute()
      ).length,
      events: (
        await db
          .selectFrom('analytics_events')
          .select('id')
          .where('user_id', '=', userId)
          .where('name', 'like', 'marketing.%')
          .execute()
      ).length,
      other: (
        await db
          .selectFrom('analytics_events')
          .select('id')
          .where('user_id', '=', userId)
          .where('name', 'not like', 'marketing.%')
          .execute()
      ).length,
    });
    /** A person who opted in to everything, got a campaign and was tracked clicking through it. */
    const subscriber = async () => {
      const me = await signUp(stack);
      await stack.api('PUT', '/v1/me/consents', { token: me.token, json: { marketing: true, analytics: true } });
      const b = browser();
      await b.call('PUT', '/v1/cookie-consent', {
        token: me.token,
        json: { preference: false, analytics: true, marketing: true },
      });
      expect(
        (
          await b.call('POST', '/v1/analytics/events', {
            token: me.token,
            json: { name: 'marketing.campaign_click', path: '/styles' },
          })
        ).body,
      ).toEqual({ recorded: true });
      expect(
        (
          await b.call('POST', '/v1/analytics/events', {
            token: me.token,
            json: { name: 'page_view', path: '/styles' },
          })
        ).body,
      ).toEqual({ recorded: true });
      return me;
    };
    const dee = await subscriber();
    const eve = await subscriber();
    const fay = await subscriber();
    await sendCampaign('Spring offer');
    for (const p of [dee, eve, fay]) expect(await marketingData(p.userId)).toEqual({ emails: 1, events: 1, other: 1 });

    // Unsubscribe link.
    expect((await stack.api('POST', new URL(unsubscribeUrl(stack.ctx, dee.userId)).pathname)).status).toBe(200);
    expect(await marketingData(dee.userId)).toEqual({ emails: 0, events: 0, other: 1 });
    const record = await db
      .selectFrom('deletion_records')
      .selectAll()
      .where('subject_id', '=', dee.userId)
      .where('subject_kind', '=', 'marketing_data')
      .executeTakeFirstOrThrow();
    expect(record.rows_deleted).toBe(2);
    expect(JSON.stringify(record)).not.toContain(dee.email);

    // Withdrawal in the settings.
    await stack.api('PUT', '/v1/me/consents', { token: eve.token, json: { marketing: false } });
    expect(await marketingData(eve.userId)).toEqual({ emails: 0, events: 0, other: 1 });

    // A withdrawal recorded by another path (an objection) is caught by the consent sweep.
    await recordConsent(stack.ctx, fay.userId, 'marketing', false, 'objection');
    await sweepHandlers['sweep.consent-withdrawals'](stack.ctx, {}, fakeJob);
    await until(async () => (await marketingData(fay.userId)).emails === 0, 10_000, 'withdrawal job');
    expect(await marketingData(fay.userId)).toEqual({ emails: 0, events: 0, other: 1 });
    // Withdrawing the marketing cookie category removes that browser's marketing tracking.
    const anon = browser();
    await anon.call('PUT', '/v1/cookie-consent', { json: { preference: false, analytics: true, marketing: true } });
    await anon.call('POST', '/v1/analytics/events', { json: { name: 'marketing.ad_click' } });
    await anon.call('POST', '/v1/analytics/events', { json: { name: 'page_view' } });
    expect((await events(anon.visitorId())).map((e) => e.name).sort()).toEqual(['marketing.ad_click', 'page_view']);
    await anon.call('PUT', '/v1/cookie-consent', { json: { preference: false, analytics: true, marketing: false } });
    expect((await events(anon.visitorId())).map((e) => e.name)).toEqual(['page_view']);

    // Those who stayed subscribed keep theirs.
    const stays = await subscriber();
    await sendCampaign('Summer offer');
    await sweepHandlers['sweep.consent-withdrawals'](stack.ctx, {}, fakeJob);
    expect(await marketingData(stays.userId)).toEqual({ emails: 1, events: 1, other: 1 });
  });

  it('CN2 essential cookie always; preference, analytics and marketing only with a recorded choice', async () => {
    const b = browser();
    const first = await b.call('POST', '/v1/analytics/events', { json: { name: 'page_view', path: '/' } });
    expect(first.status).toBe(202);
    expect(first.body).toEqual({ recorded: false, reason: 'no_consent' });
    const setCookie = first.headers.getSetCookie().find((c) => c.startsWith('rasmi_vid='))!;
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Lax/i);
    const vid = b.visitorId();
    expect(vid).toMatch(/^vis_/);

    const state = await b.call('GET', '/v1/cookie-consent');
    expect(state.body).toMatchObject({
      essential: true,
      preference: false,
      analytics: false,
      marketing: false,
      decided: false,
      recorded_at: null,
    });
    expect(b.visitorId()).toBe(vid);

    // Preference only: still no analytics.
    const pref = await b.call('PUT', '/v1/cookie-consent', {
      json: { preference: true, analytics: false, marketing: false },
    });
    expect(pref.body).toMatchObject({
      essential: true,
      preference: true,
      analytics: false,
      marketing: false,
      decided: true,
    });
    expect((await b.call('POST', '/v1/analytics/events', { json: { name: 'page_view', path: '/' } })).body).toEqual({
      recorded: false,
      reason: 'no_consent',
    });
    expect(await events(vid)).toHaveLength(0);

    // Analytics on: a page view is stored; marketing tracking still is not.
    await b.call('PUT', '/v1/cookie-consent', { json: { preference: true, analytics: true, marketing: false } });
    expect(
      (await b.call('POST', '/v1/analytics/events', { json: { name: 'page_view', path: '/pricing?email=a@b.c' } }))
        .body,
    ).toEqual({ recorded: true });
    expect(
      (await b.call('POST', '/v1/analytics/events', { json: { name: 'marketing.ad_click', path: '/' } })).body,
    ).toEqual({ recorded: false, reason: 'no_consent' });
    await b.call('PUT', '/v1/cookie-consent', { json: { preference: true, analytics: true, marketing: true } });
    expect(
      (await b.call('POST', '/v1/analytics/events', { json: { name: 'marketing.ad_click', path: '/' } })).body,
    ).toEqual({ recorded: true });
    const stored = await events(vid);
    expect(stored.map((e) => e.name).sort()).toEqual(['marketing.ad_click', 'page_view']);
    expect(stored.find((e) => e.name === 'page_view')!.path).toBe('/pricing');

    // Every choice is kept, newest in force.
    const history = await stack.ctx.db
      .selectFrom('cookie_consents')
      .selectAll()
      .where('visitor_id', '=', vid)
      .orderBy('recorded_at')
      .orderBy('id')
      .execute();
    expect(history.map((h) => [h.preference, h.analytics, h.marketing])).toEqual([
      [true, false, false],
      [true, true, false],
      [true, true, true],
    ]);
    expect((await b.call('GET', '/v1/cookie-consent')).body).toMatchObject({
      preference: true,
      analytics: true,
      marketing: true,
      decided: true,
    });

    // Signed in, the person's own analytics consent must be in force too, and a restriction turns it off.
    const me = await signUp(stack);
    const signedIn = () =>
      b.call('POST', '/v1/analytics/events', { token: me.token, json: { name: 'feature_used', path: '/orders' } });
    expect((await signedIn()).body).toEqual({ recorded: false, reason: 'no_consent' });
    await stack.api('PUT', '/v1/me/consents', { token: me.token, json: { analytics: true } });
    expect((await signedIn()).body).toEqual({ recorded: true });
    expect((await events(vid)).find((e) => e.name === 'feature_used')!.user_id).toBe(me.userId);
    stack.clock.advance(1000);
    await recordConsent(stack.ctx, me.userId, 'analytics', false, 'restriction');
    expect((await signedIn()).body).toEqual({ recorded: false, reason: 'no_consent' });
    expect((await events(vid)).filter((e) => e.name === 'feature_used')).toHaveLength(1);
  });

  it('CN3 a DNT: 1 or Sec-GPC: 1 request records no analytics and no marketing tracking, even with consent', async () => {
    const me = await signUp(stack);
    await stack.api('PUT', '/v1/me/consents', { token: me.token, json: { analytics: true, marketing: true } });
    const b = browser();
    await b.call('PUT', '/v1/cookie-consent', {
      token: me.token,
      json: { preference: true, analytics: true, marketing: true },
    });
    // Control: the same request without a signal is recorded.
    expect(
      (await b.call('POST', '/v1/analytics/events', { token: me.token, json: { name: 'page_view' } })).body,
    ).toEqual({ recorded: true });
    for (const [h, reason] of [
      [{ DNT: '1' }, 'dnt'],
      [{ 'Sec-GPC': '1' }, 'gpc'],
    ] as const) {
      for (const name of ['page_view', 'marketing.ad_click']) {
        const r = await b.call('POST', '/v1/analytics/events', { token: me.token, json: { name }, headers: h });
        expect(r.status).toBe(202);
        expect(r.body).toEqual({ recorded: false, reason });
      }
    }
    expect(await events(b.visitorId())).toHaveLength(1);
    expect((await b.call('GET', '/v1/cookie-consent', { headers: { 'Sec-GPC': '1' } })).body.opt_out_signal).toBe(
      'gpc',
    );
  });

  it('CN5 usage analytics store a truncated IP and a coarse browser, never the full address or User-Agent', async () => {
    const b = browser();
    await b.call('PUT', '/v1/cookie-consent', { json: { preference: false, analytics: true, marketing: false } });
    const clients = ['203.0.113.77', '2001:db8:abcd:12:34::1'];
    for (const ip of clients)
      await b.call('POST', '/v1/analytics/events', { json: { name: 'page_view' }, headers: { 'X-Forwarded-For': ip } });
    await b.call('POST', '/v1/analytics/events', { json: { name: 'page_view' } });
    const rows = await events(b.visitorId());
    expect(rows.map((r) => r.ip_truncated).sort()).toEqual(['127.0.0.0', '2001:db8:abcd::', '203.0.113.0']);
    for (const r of rows) {
      expect(r.ip_truncated).toMatch(/(\.0|::)$/);
      expect(clients).not.toContain(r.ip_truncated);
      expect(r.ip_truncated).not.toBe('127.0.0.1');
      expect(r).toMatchObject({ browser: 'Chrome', device: 'desktop' });
      expect(JSON.stringify(r)).not.toContain('Mozilla');
    }
  });

  it('RT6 usage data older than USAGE_DATA_RETENTION_DAYS is deleted by the sweep; newer is kept', async () => {
    const { db } = stack.ctx;
    expect(stack.config.USAGE_DATA_RETENTION_DAYS).toBe(90);
    const now = stack.clock.now().getTime();
    const old = new Date(now - 91 * DAY_MS);
    const recent = new Date(now - 89 * DAY_MS);
    const me = await signUp(stack);
    const event = (at: Date, userId: string | null = null) => ({
      id: newId('evt'),
      visitor_id: newId('vis'),
      user_id: userId,
      name: 'page_view',
      path: '/',
      ip_truncated: '198.51.100.0',
      browser: 'Firefox',
      device: 'mobile',
      occurred_at: at,
    });
    const choice = (at: Date, userId: string | null = null) => ({
      id: newId('ckc'),
      visitor_id: newId('vis'),
      user_id: userId,
      preference: true,
      analytics: true,
      marketing: false,
      recorded_at: at,
    });
    const oldEvents = [event(old), event(old, me.userId)];
    const newEvents = [event(recent), event(recent, me.userId)];
    const oldAnon = choice(old);
    const oldOfUser = choice(old, me.userId);
    const newAnon = choice(recent);
    await db
      .insertInto('analytics_events')
      .values([...oldEvents, ...newEvents])
      .execute();
    await db.insertInto('cookie_consents').values([oldAnon, oldOfUser, newAnon]).execute();

    await sweepHandlers['sweep.usage-data'](stack.ctx, {}, fakeJob);

    const eventIds = (
      await db
        .selectFrom('analytics_events')
        .select('id')
        .where(
          'id',
          'in',
          [...oldEvents, ...newEvents].map((e) => e.id),
        )
        .execute()
    ).map((r) => r.id);
    expect(eventIds.sort()).toEqual(newEvents.map((e) => e.id).sort());
    const choiceIds = (
      await db
        .selectFrom('cookie_consents')
        .select('id')
        .where('id', 'in', [oldAnon.id, oldOfUser.id, newAnon.id])
        .execute()
    ).map((r) => r.id);
    expect(choiceIds.sort()).toEqual([oldOfUser.id, newAnon.id].sort());
    const rec = await db
      .selectFrom('deletion_records')
      .selectAll()
      .where('subject_kind', '=', 'usage_data')
      .orderBy('performed_at', 'desc')
      .executeTakeFirstOrThrow();
    expect(rec.details).toMatchObject({ analytics_events: 2, cookie_consents: 1 });

    // Nothing else is old now: a second run deletes nothing.
    await sweepHandlers['sweep.usage-data'](stack.ctx, {}, fakeJob);
    expect(
      await db
        .selectFrom('analytics_events')
        .select('id')
        .where(
          'id',
          'in',
          newEvents.map((e) => e.id),
        )
        .execute(),
    ).toHaveLength(2);
  });
});

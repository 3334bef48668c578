/**
 * Every link in every email Rasmi sends a person lands where it points, in a real browser: the real
 * flows make the emails (an order, a data export, a marketing campaign, a material policy change, a
 * breach notice), each link is opened in a signed-out browser, goes through sign-in and lands on its
 * screen; opened again in a tab of the now signed-in browser, it lands there at once.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { expect, test, type APIRequestContext, type Browser, type Page } from '@playwright/test';
import pg from 'pg';

const root = path.resolve(import.meta.dirname, '../..');
const outbox = path.join(process.env.WEB_TEST_DIR!, 'outbox');
const origin = `http://127.0.0.1:${process.env.WEB_TEST_PORT}`;
const adminUrl = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://root@127.0.0.1:5432/postgres';

interface Mail {
  to: string;
  subject: string;
  text: string;
}

/** The outbox's messages to one address, oldest first. */
async function mailTo(email: string): Promise<Mail[]> {
  const files = await readdir(outbox).catch(() => [] as string[]);
  const dated = await Promise.all(files.map(async (f) => ({ f, at: (await stat(path.join(outbox, f))).mtimeMs })));
  const mails = await Promise.all(
    dated
      .sort((a, b) => a.at - b.at)
      .map(async ({ f }) => JSON.parse(await readFile(path.join(outbox, f), 'utf8')) as Mail),
  );
  return mails.filter((m) => m.to === email);
}

async function waitForMail(email: string, match: (m: Mail) => boolean, what: string): Promise<Mail> {
  for (let i = 0; i < 1200; i++) {
    const found = (await mailTo(email)).find(match);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no ${what} email to ${email}`);
}

/** The newest sign-in code sent to an address. */
async function newestCode(email: string): Promise<string> {
  const codes = (await mailTo(email)).map((m) => /code is (\d{6})/.exec(m.text)?.[1]).filter(Boolean);
  return codes.at(-1)!;
}

async function signUpByApi(
  request: APIRequestContext,
  email: string,
  name: string,
): Promise<{ token: string; id: string }> {
  const policy = await (await request.get(`${origin}/v1/policy`)).json();
  const reg = await request.post(`${origin}/v1/accounts`, {
    data: { email, name, confirms_adult: true, accepted_policy_version: policy.id },
  });
  expect(reg.status()).toBe(202);
  await waitForMail(email, (m) => /code is \d{6}/.test(m.text), 'sign-in code');
  const tok = await request.post(`${origin}/v1/auth/token`, { data: { email, code: await newestCode(email) } });
  expect(tok.status()).toBe(200);
  const body = await tok.json();
  return { token: body.token, id: body.user.id };
}

/** Signs in through the web client's own screen, with a fresh emailed code. */
async function signInOnScreen(page: Page, email: string): Promise<void> {
  await expect(page.getByRole('heading', { level: 1, name: 'Sign in' })).toBeVisible();
  const before = (await mailTo(email)).length;
  await page.getByLabel('Email address').first().fill(email);
  await page.getByRole('button', { name: 'Email me a code', exact: true }).click();
  for (let i = 0; (await mailTo(email)).length <= before && i < 200; i++) await new Promise((r) => setTimeout(r, 100));
  await page.getByLabel('Six-digit code').fill(await newestCode(email));
  await page.getByRole('button', { name: 'Sign in' }).click();
}

const linksIn = (text: string) => [...text.matchAll(/https?:\/\/[^\s)]+/g)].map((m) => m[0].replace(/[.,]$/, ''));

test('every link in every email lands on its screen, signed out (through sign-in) and signed in', async ({
  browser,
  request,
}) => {
  const email = `links+${Date.now()}@rasmi.local`;
  const me = await signUpByApi(request, email, 'Link Person');
  const auth = { authorization: `Bearer ${me.token}` };
  // Staff for the campaign, the policy version and the breach.
  const staffEmail = `staff+${Date.now()}@rasmi.local`;
  const staff = await signUpByApi(request, staffEmail, 'Staff Person');
  const db = new pg.Client({
    connectionString: Object.assign(new URL(adminUrl), { pathname: `/rasmi_t_${process.env.WEB_TEST_RUN}` }).toString(),
  });
  await db.connect();
  await db.query(`update users set role = 'admin' where id = $1`, [staff.id]);
  await db.end();
  const staffAuth = { authorization: `Bearer ${staff.token}` };

  // An order (received, processing, ready), a data export, a marketing campaign, a breach notice.
  const up = await request.post(`${origin}/v1/photos`, {
    headers: auth,
    multipart: {
      photo: {
        name: 'astronaut.png',
        mimeType: 'image/png',
        buffer: await readFile(path.join(root, 'test/fixtures/astronaut.png')),
      },
    },
  });
  expect(up.status()).toBe(201);
  const photoId = (await up.json()).id as string;
  await expect
    .poll(async () => (await (await request.get(`${origin}/v1/photos/${photoId}`, { headers: auth })).json()).status, {
      timeout: 60_000,
    })
    .toBe('usable');
  const created = await request.post(`${origin}/v1/orders`, {
    headers: auth,
    data: { package_id: 'starter', style_ids: ['navy-gradient'], photo_ids: [photoId] },
  });
  expect(created.status()).toBe(201);
  const orderId = (await created.json()).order.id as string;
  await waitForMail(email, (m) => m.subject === 'Your Rasmi headshots are ready', 'order ready');
  const exported = await request.post(`${origin}/v1/rights-requests`, {
    headers: { ...auth, 'idempotency-key': `links-${Date.now()}` },
    data: { kind: 'access' },
  });
  expect(exported.ok()).toBe(true);
  const exportId = (await exported.json()).id as string;
  await waitForMail(email, (m) => m.subject === 'Your Rasmi data export is ready', 'export ready');
  expect((await request.put(`${origin}/v1/me/consents`, { headers: auth, data: { marketing: true } })).status()).toBe(
    200,
  );
  expect(
    (
      await request.post(`${origin}/v1/admin/marketing/send`, {
        headers: staffAuth,
        data: { subject: 'New backdrops', text: 'Three new studio backdrops are here.' },
      })
    ).ok(),
  ).toBe(true);
  await waitForMail(email, (m) => m.subject === 'New backdrops', 'marketing');
  const breach = await request.post(`${origin}/v1/staff/breaches`, {
    headers: staffAuth,
    data: { description: 'A test incident.', detected_at: new Date().toISOString(), affected: { user_ids: [me.id] } },
  });
  expect(breach.ok()).toBe(true);
  await waitForMail(email, (m) => m.subject.startsWith('Important: a security incident'), 'breach notice');
  // A material policy change, last: until it is accepted no order is taken (its link leads to the acceptance).
  const version = `2027-${String(Date.now()).slice(-4)}`;
  expect(
    (
      await request.post(`${origin}/v1/staff/policy-versions`, {
        headers: staffAuth,
        data: {
          id: version,
          last_updated: '2027-01-01',
          significant: true,
          material: true,
          text: 'Privacy policy, version for the link test.',
        },
      })
    ).ok(),
  ).toBe(true);
  await waitForMail(email, (m) => m.subject === 'We updated our privacy policy', 'policy change');

  // Every link of every email to this person, each checked once.
  const mails = await mailTo(email);
  const links = [...new Set(mails.flatMap((m) => linksIn(m.text)))];
  console.log(`${mails.length} emails, ${links.length} distinct links`);
  for (const link of links) expect(link.startsWith(`${origin}/app/#/`), `${link} opens the web client`).toBe(true);
  const screens = links.map((l) => new URL(l).hash.split('?')[0]).sort();
  expect([...new Set(screens)]).toEqual(['#/order', '#/privacy', '#/unsubscribe']);

  /** What each link must show once it has landed. */
  const landed = async (page: Page, link: string) => {
    const hash = new URL(link).hash;
    if (hash.startsWith('#/order')) {
      await expect(page.getByRole('heading', { level: 1, name: 'Order headshots' })).toBeVisible();
      await expect(page.locator('.order-status')).toHaveText('Ready: 1 of 1 headshot');
      await expect(page.locator('.gallery img')).toHaveCount(1);
      expect(hash).toBe(`#/order?id=${orderId}`);
    } else if (hash.startsWith('#/privacy?export=')) {
      expect(hash).toBe(`#/privacy?export=${exportId}`);
      await expect(page.getByRole('link', { name: 'Download my data' })).toBeFocused();
    } else if (hash.startsWith('#/privacy?policy=')) {
      await expect(page.getByRole('heading', { name: 'Privacy policy' })).toBeFocused();
      await expect(page.getByRole('button', { name: `Accept version ${version}` })).toBeVisible();
      await expect(page.getByText('Privacy policy, version for the link test.')).toBeVisible();
    } else if (hash === '#/privacy') {
      await expect(page.getByRole('heading', { level: 1, name: 'Privacy centre' })).toBeVisible();
    } else if (hash.startsWith('#/unsubscribe')) {
      await expect(page.getByRole('heading', { level: 1, name: 'Unsubscribe' })).toBeVisible();
      await page.getByRole('button', { name: 'Unsubscribe from marketing emails' }).click();
      await expect(page.getByRole('status')).toHaveText(/You are unsubscribed/);
    } else throw new Error(`no landing check for ${link}`);
  };

  const fresh = async (b: Browser) => b.newContext({ baseURL: `${origin}/app/` });
  for (const link of links) {
    // Signed out: through sign-in (only unsubscribe needs none), then where the link pointed.
    const context = await fresh(browser);
    const page = await context.newPage();
    await page.goto(link);
    if (!link.includes('#/unsubscribe')) await signInOnScreen(page, email);
    await landed(page, link);
    await expect(page).toHaveURL(link);
    // Signed in, in another tab of the same browser: it lands at once.
    if (!link.includes('#/unsubscribe')) {
      const tab = await context.newPage();
      await tab.goto(link);
      await landed(tab, link);
      await expect(tab.getByRole('heading', { level: 1, name: 'Sign in' })).toHaveCount(0);
    }
    console.log(
      `${new URL(link).hash.replace(/=[^&]+/g, '=…')}: ${link.includes('#/unsubscribe') ? 'lands signed out, no sign-in needed' : 'lands signed out (after sign-in) and signed in'}`,
    );
    await context.close();
  }
  expect((await (await request.get(`${origin}/v1/orders/${orderId}`, { headers: auth })).json()).status).toBe('ready');
});

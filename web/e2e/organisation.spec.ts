/**
 * Teams in the reference web client, in Chromium against the real stack: an owner creates an
 * organisation, sets its brand, buys seats and invites a colleague by email; the colleague opens
 * the emailed link, reads what joining means and agrees; orders with a seat (through the API, the
 * workers make the headshot) and shares it on the organisation screen; the owner sees the member's
 * status, reviews and approves the headshot and downloads the ZIP. axe checks every screen.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Browser, type Page } from '@playwright/test';

const root = path.resolve(import.meta.dirname, '../..');
const outbox = path.join(process.env.WEB_TEST_DIR!, 'outbox');
const origin = `http://127.0.0.1:${process.env.WEB_TEST_PORT}`;
const shots = path.join(root, 'web/test-results/screens');

async function axe(page: Page, screen: string): Promise<string[]> {
  await page.screenshot({ path: path.join(shots, `${screen}.png`), fullPage: true });
  const { violations, passes } = await new AxeBuilder({ page }).analyze();
  console.log(
    `axe ${screen}: ${passes.length} rules pass, ${violations.length} violations (${violations.map((v) => `${v.id}:${v.impact}`).join(', ') || 'none'})`,
  );
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${screen} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`);
}

async function mailTo(email: string, pattern: RegExp, seconds = 10): Promise<string> {
  for (let i = 0; i < seconds * 10; i++) {
    for (const f of await readdir(outbox).catch(() => [])) {
      const m = JSON.parse(await readFile(path.join(outbox, f), 'utf8')) as { to: string; text: string };
      const hit = m.to === email && pattern.exec(m.text)?.[1];
      if (hit) return hit;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no mail to ${email} matching ${pattern}`);
}

async function call(method: string, p: string, token?: string, body?: unknown) {
  const form = body instanceof FormData;
  const res = await fetch(origin + p, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body && !form ? { 'content-type': 'application/json' } : {}),
    },
    body: form ? body : body ? JSON.stringify(body) : undefined,
  });
  const json = res.headers.get('content-type')?.includes('json') ? await res.json() : null;
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function person(name: string) {
  const email = `${name.toLowerCase()}+${Date.now()}@rasmi.local`;
  const policy = await call('GET', '/v1/policy');
  await call('POST', '/v1/accounts', undefined, {
    email,
    name,
    confirms_adult: true,
    accepted_policy_version: policy.id,
  });
  const code = await mailTo(email, /code is (\d{6})/);
  const { token } = await call('POST', '/v1/auth/token', undefined, { email, code });
  return { email, token: token as string };
}

/** A page signed in as this person (the client keeps its token in localStorage). */
async function signedIn(browser: Browser, token: string): Promise<Page> {
  const context = await browser.newContext();
  await context.addInitScript((t) => localStorage.setItem('rasmi.token', t), token);
  // The cookie banner is asked once per browser; answered here so it does not cover the screens.
  const page = await context.newPage();
  return page;
}

test('an organisation: create, brand, seats, invite, join with consent, share, review, approve, download, redo, owner leaves', async ({
  browser,
}) => {
  const violations: string[] = [];
  const owner = await person('Owner');
  const member = await person('Member');

  const admin = await signedIn(browser, owner.token);
  await admin.goto('#/organisation');
  await expect(admin.getByRole('heading', { name: 'Create an organisation' })).toBeVisible();
  violations.push(...(await axe(admin, 'org-1-create')));
  await admin.getByLabel('Organisation name').fill('Acme Web');
  await admin.getByLabel('Billing email').fill('billing@acme.example');
  await admin.getByRole('button', { name: 'Create organisation' }).click();
  await expect(admin.getByRole('heading', { level: 1, name: 'Acme Web' })).toBeVisible();

  // Brand: two styles, a navy backdrop.
  await admin.getByLabel('Warm office').uncheck();
  await admin.getByLabel('Backdrop').selectOption('solid');
  await admin.getByRole('button', { name: 'Save brand' }).click();
  await expect(admin.getByText('Brand saved.')).toBeVisible();

  // Seats through the local processor, confirmed by its signed webhook.
  await admin.getByRole('spinbutton', { name: 'Seats' }).fill('3');
  await admin.getByLabel('Package').selectOption('starter');
  await admin.getByRole('button', { name: 'Buy seats' }).click();
  await expect(admin.getByText(/Payment of €57.00 started/)).toBeVisible();

  await admin.getByLabel('Invite by email').fill(member.email);
  await admin.getByRole('button', { name: 'Send invitation' }).click();
  await expect(admin.getByText(`${member.email}: pending`)).toBeVisible();
  await admin.reload();
  await expect(admin.getByText('starter: 3 available of 3 bought')).toBeVisible();
  await expect(admin.getByRole('cell', { name: 'Invited' })).toBeVisible();
  violations.push(...(await axe(admin, 'org-2-admin')));

  // The member follows the emailed link, reads what joining means and agrees.
  const link = await mailTo(member.email, /(http\S+#\/join\?token=\S+)/);
  const page = await signedIn(browser, member.token);
  await page.goto(link.replace(/^http:\/\/[^/]+\/app\//, ''));
  await expect(page.getByText(/never see my selfies/)).toBeVisible();
  violations.push(...(await axe(page, 'org-3-join')));
  await page.getByRole('button', { name: 'Join Acme Web' }).click();
  await expect(page.getByRole('alert')).toContainText('Tick the box');
  await page.getByLabel(/I agree that Acme Web/).check();
  await page.getByRole('button', { name: 'Join Acme Web' }).click();
  await expect(page.getByRole('heading', { name: 'What you share' })).toBeVisible();

  // A headshot from a seat (the workers make it), then shared from the organisation screen.
  const org = (await call('GET', '/v1/organisations', member.token)).items[0].id as string;
  const form = new FormData();
  form.append(
    'photo',
    new Blob([new Uint8Array(await readFile(path.join(root, 'test/fixtures/astronaut.png')))], { type: 'image/png' }),
    'astronaut.png',
  );
  const photo = await call('POST', '/v1/photos', member.token, form);
  await expect
    .poll(async () => (await call('GET', `/v1/photos/${photo.id}`, member.token)).status, { timeout: 120_000 })
    .toBe('usable');
  const order = await call('POST', `/v1/organisations/${org}/orders`, member.token, {
    package_id: 'starter',
    style_ids: ['studio-grey'],
    photo_ids: [photo.id],
  });
  await expect
    .poll(async () => (await call('GET', `/v1/orders/${order.order_id}`, member.token)).status, { timeout: 300_000 })
    .toBe('ready');
  await page.reload();
  await page.getByRole('button', { name: 'Share', exact: true }).click();
  await expect(page.getByText('(shared)')).toBeVisible();
  violations.push(...(await axe(page, 'org-4-member')));

  // The owner sees the status, reviews, approves and downloads.
  await admin.reload();
  await expect(admin.getByRole('cell', { name: 'Shared a headshot' })).toBeVisible();
  const image = admin.getByRole('img', { name: /Member, studio-grey/ });
  await expect(image).toBeVisible();
  expect(await image.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(1024);
  await admin.getByRole('button', { name: /Approve Member/ }).click();
  await expect(admin.getByText(/: approved/)).toBeVisible();
  violations.push(...(await axe(admin, 'org-5-review')));
  const [zip] = await Promise.all([
    admin.waitForEvent('download'),
    admin.getByRole('button', { name: 'Download approved headshots (ZIP)' }).click(),
  ]);
  const bytes = await readFile((await zip.path())!);
  expect(bytes.subarray(0, 2).toString()).toBe('PK');
  expect(bytes.includes(Buffer.from('members.csv'))).toBe(true);

  // A redo: the member is emailed a link to the new order, made from their photos, and it lands there.
  await admin.getByLabel('Note for a redo (optional)').fill('A brighter one, please.');
  await admin.getByRole('button', { name: 'Ask Member for a redo' }).click();
  await expect(admin.getByText(/: redo requested, “A brighter one, please.”/)).toBeVisible();
  const redo = await mailTo(member.email, /asked for another[\s\S]*?(http\S+#\/order\?id=\S+)/, 60);
  await page.goto(redo.replace(/^http:\/\/[^/]+\/app\//, ''));
  await expect(page.getByRole('heading', { level: 1, name: 'Order headshots' })).toBeVisible();
  await expect(page.locator('.order-status')).toHaveText('Ready: 1 of 1 headshot', { timeout: 300_000 });

  // Withdrawing consent takes it away from the owner's screen at once.
  await page.goto('#/organisation');
  await page.getByRole('button', { name: 'Withdraw my consent to share' }).click();
  await expect(page.getByText('You do not share anything with Acme Web.')).toBeVisible();
  await admin.reload();
  await expect(admin.getByText('No one has shared a headshot yet.')).toBeVisible();

  // The owner deletes their account: the organisation passes to the member (its longest-standing
  // admin or, as here, member), whose emailed link lands on it with the owner's view.
  await call('POST', '/v1/rights-requests', owner.token, { kind: 'deletion' });
  const owned = await mailTo(member.email, /(http\S+#\/organisation\?id=\S+)/, 120);
  await page.goto(owned.replace(/^http:\/\/[^/]+\/app\//, ''));
  await expect(page.getByRole('heading', { level: 1, name: 'Acme Web' })).toBeVisible();
  await expect(page.getByText('Your role: owner.')).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Seats' })).toBeVisible();
  violations.push(...(await axe(page, 'org-6-new-owner')));

  expect(violations).toEqual([]);
});

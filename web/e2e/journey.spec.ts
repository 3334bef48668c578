/**
 * One person's whole path through the reference web client, in Chromium, against the real stack:
 * register and sign in with the emailed code, upload selfies (progress, verdicts and hints), order
 * and pay, follow progress, see and download the headshots (4:5 and 1:1, decoded, no EXIF), privacy
 * centre (consents, cookies under GPC, export and its download, deletion). axe checks every screen.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import sharp from 'sharp';

const root = path.resolve(import.meta.dirname, '../..');
const fixture = (name: string) => readFile(path.join(root, 'test/fixtures', name));
const shots = path.join(root, 'web/test-results/screens');
const outbox = path.join(process.env.WEB_TEST_DIR!, 'outbox');

/** Every serious or critical axe violation on the page as it is now; the summary is printed. */
async function axe(page: Page, screen: string) {
  await page.screenshot({ path: path.join(shots, `${screen}.png`), fullPage: true });
  const { violations, passes } = await new AxeBuilder({ page }).analyze();
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  console.log(
    `axe ${screen}: ${passes.length} rules pass, ${violations.length} violations (${violations.map((v) => `${v.id}:${v.impact}`).join(', ') || 'none'})`,
  );
  return bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`);
}

async function codeFor(email: string): Promise<string> {
  for (let i = 0; i < 50; i++) {
    for (const f of await readdir(outbox).catch(() => [])) {
      const m = JSON.parse(await readFile(path.join(outbox, f), 'utf8')) as { to: string; text: string };
      const code = m.to === email && /code is (\d{6})/.exec(m.text)?.[1];
      if (code) return code;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no sign-in code for ${email} in ${outbox}`);
}

async function download(page: Page, click: () => Promise<void>) {
  const [file] = await Promise.all([page.waitForEvent('download'), click()]);
  return { name: file.suggestedFilename(), bytes: await readFile((await file.path())!) };
}

// The browser sends Global Privacy Control: analytics and marketing cookies must stay off.
test.use({ extraHTTPHeaders: { 'Sec-GPC': '1' } });

test('a person signs in, uploads, orders, downloads, exports and deletes, in a real browser', async ({
  page,
  context,
}) => {
  const started = Date.now();
  const violations: string[] = [];
  const email = `web+${Date.now()}@rasmi.local`;

  // Anything the API's CSP blocks (the page is served by the API under helmet's policy) is recorded.
  await page.addInitScript(() => {
    const w = window as unknown as { cspViolations: string[] };
    w.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      w.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`),
    );
  });
  // Sign-in screen: time to interactive is when the app has rendered and bound its handlers.
  await page.goto('');
  // Keyboard: the first field has focus, and Tab goes on to its button.
  await expect(page.getByLabel('Email address').first()).toBeFocused();
  await page.keyboard.press('Tab');
  await expect(page.getByRole('button', { name: 'Email me a code', exact: true })).toBeFocused();
  await expect(page.locator('body[data-ready="true"]')).toBeAttached();
  const timing = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    return { domInteractive: nav.domInteractive, ready: performance.getEntriesByName('rasmi-ready')[0]?.startTime };
  });
  console.log(
    `time to interactive: ${timing.ready?.toFixed(0)} ms (domInteractive ${timing.domInteractive.toFixed(0)} ms)`,
  );

  // The cookie banner asks once; under GPC analytics and marketing cannot be ticked.
  const banner = page.getByRole('complementary', { name: 'Cookie choices' });
  await expect(banner.getByText('Global Privacy Control')).toBeVisible();
  await expect(banner.getByLabel('Analytics cookies (how the site is used)')).toBeDisabled();
  violations.push(...(await axe(page, '1-sign-in')));
  await banner.getByRole('button', { name: 'Save cookie choices' }).click();
  await expect(banner).toBeHidden();

  await page.getByLabel('Your name').fill('Web Person');
  await page.getByLabel('Email address').nth(1).fill(email);
  await page.getByLabel('I am 18 or older').check();
  await page.getByLabel(/I accept the privacy policy/).check();
  await page.getByRole('button', { name: 'Create account and email me a code' }).click();
  await expect(page.getByText(`We emailed a six-digit code to ${email}`)).toBeVisible();
  // A wrong code: the problem+json answer in plain words, in the alert region.
  await page.getByLabel('Six-digit code').fill('000000');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('That code is not right or has expired. Ask for a new one.');
  await page.getByLabel('Six-digit code').fill(await codeFor(email));
  await page.getByLabel('Six-digit code').press('Enter');
  await expect(page.getByRole('heading', { level: 1, name: 'Your photos' })).toBeFocused();

  // Upload three photos over a slow link, so each progress bar is seen between 0 and 100.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 20,
    downloadThroughput: -1,
    uploadThroughput: 400 * 1024,
  });
  const astronaut = await fixture('astronaut.png');
  // A second, different shot (mirrored): a copy of the same photo would count once.
  const second = await sharp(astronaut)
    .flop()
    .resize(480)
    .modulate({ brightness: 1.05 })
    .jpeg({ quality: 92 })
    .toBuffer();
  await page.getByLabel('Choose selfies to upload').setInputFiles([
    { name: 'astronaut.png', mimeType: 'image/png', buffer: astronaut },
    { name: 'second.jpg', mimeType: 'image/jpeg', buffer: second },
    { name: 'coffee.png', mimeType: 'image/png', buffer: await fixture('coffee.png') },
  ]);
  const bar = page.getByRole('progressbar', { name: 'Uploading astronaut.png' });
  await expect.poll(() => bar.evaluate((p: HTMLProgressElement) => p.value), { intervals: [50] }).toBeGreaterThan(0);
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: -1,
  });

  const item = (name: string) => page.locator('li.photo', { has: page.getByText(name, { exact: true }) });
  await expect(item('astronaut.png').getByRole('status')).toHaveText('Usable', { timeout: 60_000 });
  await expect(item('second.jpg').getByRole('status')).toHaveText('Usable', { timeout: 60_000 });
  await expect(item('coffee.png').getByRole('status')).toHaveText('Not usable', { timeout: 60_000 });
  await expect(item('coffee.png')).toContainText('Take a photo of your face looking at the camera, in good light.');
  await expect(item('astronaut.png').locator('.face')).toHaveCount(1);
  violations.push(...(await axe(page, '2-photos')));

  // Order: a package, two styles with their previews, the usable photos; pay (local processor).
  await page.getByRole('link', { name: 'Order', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Order headshots' })).toBeVisible();
  const previews = page.locator('.styles img');
  await expect
    .poll(() =>
      previews.evaluateAll((imgs: HTMLImageElement[]) => imgs.filter((i) => i.complete && i.naturalWidth > 0).length),
    )
    .toBeGreaterThan(1);
  // The style limit holds as styles are picked: Starter's one style is ticked, so no other can be.
  await expect(page.locator('#style-limit')).toHaveText('Starter includes 1 style: untick one to choose another.');
  await expect(page.locator('.styles input').nth(1)).toBeDisabled();
  await expect(page.getByRole('group', { name: 'Photos to use' }).getByRole('checkbox')).toHaveCount(2);
  await expect(page.locator('#quote')).toHaveText("You'll get 1 headshot for €19.00.");
  await page.getByRole('radio', { name: /^Professional/ }).check();
  await page.locator('.styles input').nth(1).check();
  // Two usable photos, two a style, two styles: the count and price are said before the pay button.
  await expect(page.locator('#quote')).toHaveText("You'll get 4 headshots for €39.00.");
  violations.push(...(await axe(page, '3-order')));
  // One photo left out: fewer than the package names, said with what to do, and agreed explicitly.
  await page.getByRole('group', { name: 'Photos to use' }).getByRole('checkbox').nth(1).uncheck();
  await expect(page.locator('#quote')).toHaveText("You'll get 2 headshots for €19.50.");
  await expect(page.getByText('Professional makes 2 headshots a style, each from a different photo.')).toBeVisible();
  await page.getByRole('button', { name: 'Pay and order' }).click();
  await expect(page.getByLabel('I accept 2 headshots instead of 4, for €19.50')).toBeFocused();
  await page.getByRole('group', { name: 'Photos to use' }).getByRole('checkbox').nth(1).check();
  await expect(page.locator('#quote')).toHaveText("You'll get 4 headshots for €39.00.");
  await page.getByRole('button', { name: 'Pay and order' }).click();

  const status = page.locator('.order-status');
  await expect(page.getByRole('heading', { name: 'Which photos are used' })).toBeVisible();
  await expect(status).toHaveText('Ready: 4 of 4 headshots', { timeout: 300_000 });
  const gallery = page.locator('.gallery img');
  await expect(gallery).not.toHaveCount(0);
  await expect
    .poll(() =>
      gallery.evaluateAll((imgs: HTMLImageElement[]) => imgs.every((i) => i.complete && i.naturalWidth === 1024)),
    )
    .toBe(true);
  violations.push(...(await axe(page, '4-gallery')));

  for (const [aspect, height] of [
    ['4:5', 1280],
    ['1:1', 1024],
  ] as const) {
    const file = await download(page, () =>
      page.getByRole('button', { name: `Download headshot 1 as ${aspect}` }).click(),
    );
    const meta = await sharp(file.bytes).metadata();
    expect(file.name).toMatch(/^rasmi-.*\.jpg$/);
    expect({ format: meta.format, width: meta.width, height: meta.height, exif: meta.exif }).toEqual({
      format: 'jpeg',
      width: 1024,
      height,
      exif: undefined,
    });
    await sharp(file.bytes).raw().toBuffer(); // decodes whole
  }

  // Privacy centre: consents, cookie choices under GPC, export and its download, deletion.
  await page.getByRole('link', { name: 'Privacy centre' }).click();
  await page.getByLabel('Marketing emails about offers and new styles').check();
  await page.getByRole('button', { name: 'Save consents' }).click();
  await expect(page.locator('#consent-status')).toHaveText('Consents saved.');
  await expect(page.getByLabel('Marketing emails about offers and new styles')).toBeChecked();
  await expect(page.getByLabel('Marketing cookies')).toBeDisabled();
  await page.getByText('Read the current policy').click();
  await expect(page.locator('.policy').first()).toContainText('Privacy');
  violations.push(...(await axe(page, '5-privacy')));

  await page.getByRole('button', { name: 'Request a copy of my data' }).click();
  await expect(page.getByRole('link', { name: 'Download my data' })).toBeVisible({ timeout: 120_000 });
  const archive = await download(page, () => page.getByRole('link', { name: 'Download my data' }).click());
  expect(archive.bytes.subarray(0, 2).toString()).toBe('PK');

  const token = await page.evaluate(() => localStorage.getItem('rasmi.token'));
  await page.getByRole('button', { name: 'Delete my account…' }).click();
  await expect(page.getByLabel('Confirmation')).toBeFocused();
  await page.getByRole('button', { name: 'Delete my account permanently' }).click();
  await expect(page.getByRole('alert')).toHaveText('Type DELETE in capitals to confirm.');
  await page.getByLabel('Confirmation').fill('DELETE');
  await page.getByRole('button', { name: 'Delete my account permanently' }).click();
  await expect(page.getByRole('heading', { name: 'Your account is being deleted' })).toBeVisible();
  await expect(page.locator('.done li', { hasText: 'transaction records' })).toBeVisible();
  violations.push(...(await axe(page, '6-deleted')));
  const me = await page.request.get('/v1/me', { headers: { authorization: `Bearer ${token}` } });
  expect(me.status()).toBe(401);

  expect(await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations)).toEqual([]);
  console.log(`journey took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  expect(violations).toEqual([]);
});

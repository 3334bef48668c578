/**
 * The reference web client's weight and time to interactive: gzip size of what web/dist ships, and
 * from navigation to the first screen being usable (rendered, handlers bound, the policy it shows
 * fetched), in Chromium against the local stack serving /app/, cold (fresh profile) and warm (cached).
 *   npm run bench:web        (needs /usr/bin/chromium or CHROMIUM_PATH)
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from '@playwright/test';
import { benchStack } from './support';
import { fmt, median } from './util';

const RUNS = 10;

async function main() {
  const assets = path.resolve('web/dist/assets');
  for (const f of await readdir(assets)) {
    const bytes = await readFile(path.join(assets, f));
    console.log(`${f}: ${fmt(bytes.length / 1024)} kB, gzip ${fmt(gzipSync(bytes, { level: 9 }).length / 1024)} kB`);
  }
  const stack = await benchStack('api');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
  try {
    const cold: number[] = [];
    const warm: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      for (const into of [cold, warm]) {
        await page.goto(`${stack.url}/app/`);
        await page.locator('body[data-ready="true"]').waitFor({ state: 'attached' });
        into.push(await page.evaluate(() => performance.getEntriesByName('rasmi-ready')[0].startTime));
      }
      await context.close();
    }
    console.log(
      `time to interactive, sign-in screen: median ${fmt(median(cold), 0)} ms cold, ${fmt(median(warm), 0)} ms warm (${RUNS} runs each)`,
    );
  } finally {
    await browser.close();
    await stack.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

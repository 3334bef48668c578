/**
 * Fuzzes POST /v1/photos with generated hostile uploads against an in-process API-only stack.
 *   npm run fuzz:upload -- [--cases 10000] [--seed 5] [--concurrency 8]
 * Passes (exit 0) when every answer is a 201 or a 4xx problem+json with a code, nothing hangs past
 * 10 s, and afterwards rows, blobs and objects match with one photo.prepare job per accepted upload.
 * Then runs the worker's preparation on every accepted upload and counts how many fail at full
 * size after passing the check at the door (they end rejected with corrupt_image, still one object
 * each). Prints the tallies and RSS. Fails on a leak too: the JS heap after garbage collection
 * may not grow by more than HEAP_GROWTH_LIMIT between case 1,000 (warm) and the last case.
 */
import { NEWEST_SHIPPED_POLICY_VERSION } from '../policies';
import { readdir, readFile } from 'node:fs/promises';
import { benchStack } from '../bench/support';
import { preparePhoto } from '../core/photos/preparation';
import {
  bump,
  hostileCase,
  makeBases,
  pool,
  sendCase,
  uploadInvariants,
  type Tally,
} from '../test/support/hostile-images';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const CASES = arg('cases', 10_000);
const SEED = arg('seed', 5);
const WIDTH = arg('concurrency', 8);
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
const HEAP_GROWTH_LIMIT = 50 * 1024 * 1024;
/** JS heap in use after a full collection (the npm script runs node with --expose-gc). */
const heapAfterGc = () => {
  global.gc?.();
  return process.memoryUsage().heapUsed;
};

async function main(): Promise<number> {
  // Uploads per person are capped at 50 by default; a fuzzer needs room for every accepted case.
  const stack = await benchStack('api', { UPLOAD_MAX_FILES_PER_USER: '1000000' });
  try {
    const email = `fuzz+${Date.now()}@rasmi.local`;
    await stack.api('POST', '/v1/accounts', {
      json: { email, name: 'Fuzz', confirms_adult: true, accepted_policy_version: NEWEST_SHIPPED_POLICY_VERSION },
    });
    const files = await readdir(stack.config.MAIL_OUTBOX_DIR);
    const mail = JSON.parse(await readFile(`${stack.config.MAIL_OUTBOX_DIR}/${files.sort().at(-1)}`, 'utf8')) as {
      text: string;
    };
    const code = /code is (\d{6})/.exec(mail.text)![1];
    const { token, user } = await stack.api('POST', '/v1/auth/token', { json: { email, code } });

    const bases = await makeBases(await readFile('test/fixtures/astronaut.png'));
    global.gc?.();
    const rssStart = process.memoryUsage().rss;
    let rssPeak = rssStart;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 200);

    const tally: Tally = new Map();
    const kinds: Tally = new Map();
    const created: string[] = [];
    const failures: string[] = [];
    const t0 = performance.now();
    let heapWarm: number | undefined;
    await pool(CASES, WIDTH, async (i) => {
      const c = hostileCase(bases, SEED, i);
      const out = await sendCase(stack.url!, token, c);
      bump(tally, out.key);
      bump(kinds, `${c.kind} → ${out.status}`);
      if (out.photoId) created.push(out.photoId);
      if (!out.ok) failures.push(`case ${i} (${c.kind}): ${out.key} ${out.why ?? ''}`);
      if ((i + 1) % 1000 === 0) console.log(`  ${i + 1} cases, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      if (i + 1 === Math.min(1000, CASES)) heapWarm = heapAfterGc();
    });
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    const heapEnd = heapAfterGc();
    const rssEnd = process.memoryUsage().rss;

    const inv = await uploadInvariants(stack.ctx, [user.id], created);
    console.log(
      `\nfuzz:upload seed=${SEED} cases=${CASES} concurrency=${WIDTH} in ${seconds.toFixed(1)} s (${(CASES / seconds).toFixed(0)} cases/s)`,
    );
    console.log('answers by status and code:');
    for (const [k, n] of [...tally].sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(6)}  ${k}`);
    console.log('cases by kind → status:');
    for (const [k, n] of [...kinds].sort()) console.log(`  ${String(n).padStart(6)}  ${k}`);
    console.log(
      `store: photos=${inv.photos} (201 answers=${created.length}) blobs=${inv.blobs} objects=${inv.objects} jobs=${inv.jobs}`,
    );
    console.log(
      `RSS: start ${mb(rssStart)}, peak ${mb(rssPeak)}, end ${mb(rssEnd)} (API and client share this process)`,
    );
    const growth = heapEnd - (heapWarm ?? heapEnd);
    console.log(
      `JS heap after GC: ${mb(heapWarm ?? 0)} at case ${Math.min(1000, CASES)}, ${mb(heapEnd)} at the end (${growth >= 0 ? '+' : ''}${mb(growth)}; limit +${mb(HEAP_GROWTH_LIMIT)})${global.gc ? '' : ' — run with --expose-gc for a real figure'}`,
    );
    const problems = [
      ...failures,
      ...inv.problems,
      ...(growth > HEAP_GROWTH_LIMIT ? [`the JS heap grew by ${mb(growth)} over the run: a leak`] : []),
    ];
    if (problems.length) {
      console.log(`FAIL: ${problems.length} problems`);
      for (const p of problems.slice(0, 30)) console.log(`  ${p}`);
      return 1;
    }
    // What the worker makes of every accepted upload: the full-size decode the door check stands in for.
    const t1 = performance.now();
    await pool(created.length, WIDTH, async (i) => void (await preparePhoto(stack.ctx, created[i])));
    const outcome: Tally = new Map();
    for (const p of await stack.ctx.db.selectFrom('photos').select(['status']).where('user_id', '=', user.id).execute())
      bump(outcome, p.status);
    const after = await uploadInvariants(stack.ctx, [user.id], created);
    console.log(
      `prepared ${created.length} accepted uploads in ${((performance.now() - t1) / 1000).toFixed(1)} s: ${[...outcome].map(([k, n]) => `${n} ${k}`).join(', ')} (rejected = passed the door check, failed at full size)`,
    );
    if ((outcome.get('preparing') ?? 0) > 0 || after.problems.length) {
      console.log(
        `FAIL after preparation: ${outcome.get('preparing') ?? 0} still preparing; ${after.problems.join('; ')}`,
      );
      return 1;
    }
    console.log(
      'PASS: every answer a 201 or a 4xx problem+json; rows, blobs and objects agree; one photo.prepare job per accepted upload, no other job; every accepted upload prepared',
    );
    return 0;
  } finally {
    await stack.stop();
  }
}

process.exitCode = await main();

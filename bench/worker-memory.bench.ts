/**
 * Worker memory with its pixel threads (issue 13), on the path that ships (issue 20): the process's
 * peak RSS while PIXEL_THREADS threads analyse, prepare (the render preparation made once a photo is
 * judged usable, sealed as storage seals it) and render from the stored form both kinds of photo
 * (the 512-px astronaut, whose small face needs ESRGAN x4, and a 12-MP selfie) with every style,
 * and the times measured one at a time. A headshot's time counts what the render handler does with
 * the stored form: unsealing it, checking its version, moving it to the thread, reading it there
 * (the first style of a photo) and rendering; the object store's round trip is left out.
 * The RSS is the whole process: its pixel threads, their model sessions, libvips.
 *
 *   npm run bench:worker-memory           BENCH_RUNS=5 PIXEL_THREADS=2 npm run bench:worker-memory
 *
 * As the images run a worker: bundled (dist-bench/, no TypeScript loader in the process or its
 * threads) and with jemalloc preloaded, one arena (MALLOC_CONF=narenas:1, as the Dockerfile sets).
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { STYLES } from '../core/orders/catalog';
import { loadConfig } from '../core/platform/config';
import { decryptObject, encryptObject, newDataKey, parseKeyring } from '../core/platform/crypto';
import { normaliseUpload } from '../core/photos/images';
import type { FaceGeometry } from '../core/photos/verdict';
import { PixelPool } from '../worker/pixel-pool';
import { pixelSettings } from '../worker/pixel-work';
import { staleReason } from '../worker/prepared-form';
import { fmt, median, twelveMegapixelSelfie } from './util';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
const mb = (bytes: number) => `${fmt(bytes / 2 ** 20, 0)} MB`;

let peak = 0;
const sample = () => (peak = Math.max(peak, process.memoryUsage.rss()));

async function main() {
  const photos = [
    {
      name: 'astronaut 512x512 (ESRGAN x4)',
      data: (await normaliseUpload(await readFile('test/fixtures/astronaut.png'), config.UPLOAD_MAX_PIXELS)).data,
    },
    {
      name: '12 MP selfie',
      data: (await normaliseUpload(await twelveMegapixelSelfie(), config.UPLOAD_MAX_PIXELS)).data,
    },
  ];
  // Making the synthetic 12-MP selfie leaves this thread about 75 MB of dead buffers a worker never
  // has: collected before anything is measured (node --expose-gc, as package.json runs the bench).
  const before = process.memoryUsage.rss();
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 100));
  console.log(`the bench's own garbage collected: RSS ${mb(before)} -> ${mb(process.memoryUsage.rss())}`);
  const pool = new PixelPool(config.PIXEL_THREADS, pixelSettings(config), 'warn');
  const timer = setInterval(sample, 50);
  const idle = process.memoryUsage.rss();
  console.log(
    `PIXEL_THREADS=${config.PIXEL_THREADS}, ${STYLES.length} styles, ${RUNS} runs; allocator: ${process.env.LD_PRELOAD?.includes('jemalloc') ? `jemalloc (MALLOC_CONF=${process.env.MALLOC_CONF ?? ''})` : 'glibc'}; ${import.meta.url.endsWith('.mjs') ? 'bundled' : 'from source (tsx)'}; load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const geometry = new Map<string, FaceGeometry>();
  for (const p of photos) {
    const a = await pool.analyse(p.data);
    if (!a.geometry) throw new Error(`${p.name}: not usable (${JSON.stringify(a.verdict)})`);
    geometry.set(p.name, a.geometry);
  }

  // The render preparation, once a photo is judged usable, sealed as the object store keeps it.
  const dek = newDataKey(parseKeyring(config.MASTER_KEYS)).dek;
  const prepareSealed = async (data: Buffer, g: FaceGeometry) => {
    const { bytes } = await pool.prepare(data, g);
    return encryptObject(dek, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  };
  // The stored form as the render handler reads it: unsealed, its version checked.
  const unseal = (sealed: Buffer) => {
    const prepared = decryptObject(dek, sealed);
    const stale = staleReason(prepared, config.HEADSHOT_SIZE);
    if (stale) throw new Error(`stored form not usable: ${stale}`);
    return prepared;
  };
  const renderStored = (key: string, sealed: Buffer, g: FaceGeometry, style: (typeof STYLES)[number]) =>
    pool.render(key, { prepared: unseal(sealed) }, g, style);

  // Preparation and render times, one at a time (a new key each run, so each first style reads the stored form).
  const preparing = new Map<string, number[]>();
  const sizes = new Map<string, number>();
  const first = new Map<string, number[]>();
  const further = new Map<string, number[]>();
  // Where a further style's time goes: the render's own stages (models thread's style graph included
  // in `style`), and what is left of the wall time (moving pixels between threads, queueing).
  const furtherStages = new Map<string, Record<string, number[]>>();
  // CPU time of the process over the timed work: on a shared machine wall time also counts other
  // people's work, CPU time much less so.
  const cpuMs = new Map<string, number>();
  const prepareCpuMs = new Map<string, number>();
  const add = (into: Map<string, number[]>, name: string, ms: number) =>
    into.set(name, [...(into.get(name) ?? []), ms]);
  for (let r = -1; r < RUNS; r++) {
    for (const p of photos) {
      const g = geometry.get(p.name)!;
      let cpu0 = process.cpuUsage();
      let t = performance.now();
      const sealed = await prepareSealed(p.data, g);
      if (r >= 0) {
        add(preparing, p.name, performance.now() - t);
        const cpu = process.cpuUsage(cpu0);
        prepareCpuMs.set(p.name, (prepareCpuMs.get(p.name) ?? 0) + (cpu.user + cpu.system) / 1000);
      }
      sizes.set(p.name, sealed.length);
      cpu0 = process.cpuUsage();
      for (const [i, style] of STYLES.entries()) {
        t = performance.now();
        const out = await renderStored(`${p.name}-${r}`, sealed, g, style);
        const ms = performance.now() - t;
        if (out.preparedFrom !== (i === 0 ? 'stored' : 'kept'))
          throw new Error(`${p.name}: prepared from ${out.preparedFrom}`);
        if (r < 0) continue; // warm-up: sessions load
        add(i === 0 ? first : further, p.name, ms);
        if (i > 0) {
          const stages = furtherStages.get(p.name) ?? {};
          const { compose = 0, style: graph = 0, faceTrue = 0, encode = 0 } = out.timings;
          const parts = { compose, style: graph, faceTrue, encode, rest: ms - compose - graph - faceTrue - encode };
          for (const [k, v] of Object.entries(parts)) stages[k] = [...(stages[k] ?? []), v];
          furtherStages.set(p.name, stages);
        }
      }
      const cpu = process.cpuUsage(cpu0);
      if (r >= 0) cpuMs.set(p.name, (cpuMs.get(p.name) ?? 0) + (cpu.user + cpu.system) / 1000);
    }
  }
  const sequentialPeak = peak;

  // Peak memory: every thread busy at once, both photos in flight on every thread, each analysed,
  // prepared and rendered in every style from its stored form, as a worker takes them from its
  // queues. Its wall time gives the pool's throughput with every thread busy, preparations included.
  const busyStart = performance.now();
  const busyCpu0 = process.cpuUsage();
  for (let r = 0; r < RUNS; r++) {
    await Promise.all(
      Array.from({ length: config.PIXEL_THREADS * 2 }, async (_, k) => {
        const p = photos[k % photos.length];
        const g = geometry.get(p.name)!;
        const [, sealed] = await Promise.all([pool.analyse(p.data), prepareSealed(p.data, g)]);
        // Unsealed once for the photo's queued renders: a worker renders one at a time
        // (RENDER_CONCURRENCY=1) and holds one copy, not one for each render waiting here.
        const prepared = unseal(sealed);
        await Promise.all(STYLES.map((s) => pool.render(`busy-${r}-${k}`, { prepared }, g, s)));
      }),
    );
  }
  const busySeconds = (performance.now() - busyStart) / 1000;
  const busyCpu = process.cpuUsage(busyCpu0);
  const busyHeadshots = RUNS * config.PIXEL_THREADS * 2 * STYLES.length;
  clearInterval(timer);
  sample();
  const busy = process.memoryUsage.rss();
  await new Promise((r) => setTimeout(r, 2000));
  const after = process.memoryUsage.rss();
  await pool.close();

  for (const p of photos) {
    console.log(
      `${p.name}: render preparation (upload side, once a photo is usable) ${fmt(median(preparing.get(p.name)!), 0)} ms wall, CPU ${fmt(prepareCpuMs.get(p.name)! / RUNS, 0)} ms; stored form ${fmt(sizes.get(p.name)! / 2 ** 20, 2)} MB sealed`,
    );
  }
  for (const p of photos) {
    const cpu = cpuMs.get(p.name)! / RUNS;
    console.log(
      `${p.name}: first headshot ${fmt(median(first.get(p.name)!), 0)} ms, each further style ${fmt(median(further.get(p.name)!), 0)} ms (wall, medians, one at a time, from the stored form); CPU ${fmt(cpu, 0)} ms for its ${STYLES.length} styles, ${fmt(cpu / STYLES.length, 0)} ms a headshot (the process's user + system time)`,
    );
  }
  for (const p of photos) {
    const stages = Object.entries(furtherStages.get(p.name)!).map(([k, v]) => `${k} ${fmt(median(v), 0)}`);
    console.log(`${p.name}: each further style by stage (ms, medians): ${stages.join(', ')}`);
  }
  console.log(
    `every thread busy: ${busyHeadshots} headshots (half of them ESRGAN x4), ${RUNS * config.PIXEL_THREADS * 2} analyses and as many preparations in ${fmt(busySeconds, 1)} s: ${fmt((busyHeadshots / busySeconds) * 60, 0)} headshots a minute; CPU ${fmt((busyCpu.user + busyCpu.system) / 1000 / busyHeadshots, 0)} ms a headshot, its share of the analyses and preparations included`,
  );
  console.log(
    `RSS: idle ${mb(idle)}; peak rendering one at a time ${mb(sequentialPeak)}; peak with every thread busy ${mb(peak)} (sampled every 50 ms; the kernel's maxRSS ${mb(process.resourceUsage().maxRSS * 1024)}); at the end ${mb(busy)}, 2 s later ${mb(after)}`,
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

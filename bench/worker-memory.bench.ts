/**
 * Worker memory with its pixel threads (issue 13): the process's peak RSS while PIXEL_THREADS
 * threads analyse and render both kinds of photo (the 512-px astronaut, whose small face needs
 * ESRGAN x4, and a 12-MP selfie) with every style, and render times measured one at a time.
 * The RSS is the whole process: its pixel threads, their model sessions, libvips.
 *
 *   npm run bench:worker-memory           BENCH_RUNS=5 PIXEL_THREADS=2 npm run bench:worker-memory
 *
 * As the images run a worker: bundled (dist-bench/, no TypeScript loader in the process or its
 * threads) and with jemalloc preloaded.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { STYLES } from '../core/orders/catalog';
import { loadConfig } from '../core/platform/config';
import { normaliseUpload } from '../core/photos/images';
import { PixelPool } from '../worker/pixel-pool';
import { pixelSettings } from '../worker/pixel-work';
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
  const pool = new PixelPool(config.PIXEL_THREADS, pixelSettings(config), 'warn');
  const timer = setInterval(sample, 50);
  const idle = process.memoryUsage.rss();
  console.log(
    `PIXEL_THREADS=${config.PIXEL_THREADS}, ${STYLES.length} styles, ${RUNS} runs; allocator: ${process.env.LD_PRELOAD?.includes('jemalloc') ? 'jemalloc' : 'glibc'}; ${import.meta.url.endsWith('.mjs') ? 'bundled' : 'from source (tsx)'}; load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const geometry = new Map<string, NonNullable<Awaited<ReturnType<PixelPool['analyse']>>['geometry']>>();
  for (const p of photos) {
    const a = await pool.analyse(p.data);
    if (!a.geometry) throw new Error(`${p.name}: not usable (${JSON.stringify(a.verdict)})`);
    geometry.set(p.name, a.geometry);
  }

  // Render times, one render at a time (a new key each run, so each run prepares again).
  const first = new Map<string, number[]>();
  const further = new Map<string, number[]>();
  // CPU time of the process over the timed renders: on a shared machine wall time also counts other
  // people's work, CPU time much less so.
  const cpuMs = new Map<string, number>();
  for (let r = -1; r < RUNS; r++) {
    for (const p of photos) {
      const cpu0 = process.cpuUsage();
      for (const [i, style] of STYLES.entries()) {
        const t = performance.now();
        await pool.render(`${p.name}-${r}`, p.data, geometry.get(p.name)!, style);
        const ms = performance.now() - t;
        if (r < 0) continue; // warm-up: sessions load
        const into = i === 0 ? first : further;
        into.set(p.name, [...(into.get(p.name) ?? []), ms]);
      }
      const cpu = process.cpuUsage(cpu0);
      if (r >= 0) cpuMs.set(p.name, (cpuMs.get(p.name) ?? 0) + (cpu.user + cpu.system) / 1000);
    }
  }
  const sequentialPeak = peak;

  // Peak memory: every thread busy at once, both photos in flight on every thread, analyses too.
  // Its wall time gives the pool's throughput with every thread busy.
  const busyStart = performance.now();
  for (let r = 0; r < RUNS; r++) {
    await Promise.all(
      Array.from({ length: config.PIXEL_THREADS * 2 }, (_, k) => {
        const p = photos[k % photos.length];
        return Promise.all([
          pool.analyse(p.data),
          ...STYLES.map((s) => pool.render(`busy-${r}-${k}`, p.data, geometry.get(p.name)!, s)),
        ]);
      }),
    );
  }
  const busySeconds = (performance.now() - busyStart) / 1000;
  const busyHeadshots = RUNS * config.PIXEL_THREADS * 2 * STYLES.length;
  clearInterval(timer);
  sample();
  const busy = process.memoryUsage.rss();
  await new Promise((r) => setTimeout(r, 2000));
  const after = process.memoryUsage.rss();
  await pool.close();

  for (const p of photos) {
    const cpu = cpuMs.get(p.name)! / RUNS;
    console.log(
      `${p.name}: first headshot ${fmt(median(first.get(p.name)!), 0)} ms, each further style ${fmt(median(further.get(p.name)!), 0)} ms (wall, medians, one at a time); CPU ${fmt(cpu, 0)} ms for its ${STYLES.length} styles, ${fmt(cpu / STYLES.length, 0)} ms a headshot (the process's user + system time)`,
    );
  }
  console.log(
    `every thread busy: ${busyHeadshots} headshots (half of them ESRGAN x4) and ${RUNS * config.PIXEL_THREADS * 2} analyses in ${fmt(busySeconds, 1)} s: ${fmt((busyHeadshots / busySeconds) * 60, 0)} headshots a minute`,
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

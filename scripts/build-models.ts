/**
 * Builds the converted models (models/onnx/*.onnx) from the installed packages.
 *
 *   npx tsx scripts/build-models.ts              # every model with a build spec, skipping up-to-date ones
 *   npx tsx scripts/build-models.ts facemesh     # just these
 *   npx tsx scripts/build-models.ts --force      # convert even when the file already matches
 *
 * Exits non-zero, naming the model, when a conversion fails or its sha256 differs from models/registry.ts.
 */
import { relative } from 'node:path';
import { BUILT_MODEL_IDS, ensureModels } from '../models/build';
import { projectRoot } from '../models/registry';

const args = process.argv.slice(2);
const unknown = args.filter((a) => a.startsWith('-') && a !== '--force');
if (args.includes('--help') || args.includes('-h') || unknown.length > 0) {
  if (unknown.length > 0 && !args.includes('--help') && !args.includes('-h'))
    console.error(`unknown option ${unknown.join(' ')}`);
  console.log(`usage: build-models [--force] [model id ...]\nmodels: ${BUILT_MODEL_IDS.join(', ')}`);
  process.exit(unknown.length > 0 && !args.includes('--help') && !args.includes('-h') ? 2 : 0);
}
const ids = args.filter((a) => !a.startsWith('-'));

try {
  const results = await ensureModels({ ids: ids.length > 0 ? ids : undefined, force: args.includes('--force') });
  for (const r of results) {
    const what = r.status === 'built' ? `built in ${r.ms.toFixed(0)} ms` : 'up to date';
    console.log(`${r.id}: ${what}  ${relative(projectRoot, r.path)}  sha256 ${r.sha256}`);
  }
} catch (err) {
  console.error(`build-models: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}

/**
 * Writes openapi.json from the route table (npm run openapi), or with --check exits 1 when the
 * committed file differs from what the code documents (CI's drift check).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { offlineOpenApiDocument } from '../api/document';

const file = path.resolve(import.meta.dirname, '../openapi.json');
const text = `${JSON.stringify(offlineOpenApiDocument(), null, 2)}\n`;
if (process.argv.includes('--check')) {
  const committed = await readFile(file, 'utf8').catch(() => '');
  if (committed !== text) {
    console.error('openapi.json is out of date with the routes: run `npm run openapi` and commit it.');
    process.exit(1);
  }
  console.log('openapi.json matches the routes');
} else {
  await writeFile(file, text);
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}

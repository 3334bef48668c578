/**
 * How thin the API's routes are: lines per route handler (median, max) and the direct database
 * calls in api/ (query builders, transactions, the database handle passed on). Run with
 * `npx tsx bench/route-figures.ts`; prints the same figures before and after a change.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseSync } from '@swc/core';

const root = join(import.meta.dirname, '..');

interface Node {
  type: string;
  span?: { start: number; end: number };
  [key: string]: unknown;
}

/** Every call `route(router, spec, handler)` in a module: the handler is its last argument. */
function handlers(node: unknown, out: Node[] = []): Node[] {
  if (Array.isArray(node)) for (const n of node) handlers(n, out);
  else if (node && typeof node === 'object') {
    const n = node as Node;
    if (
      n.type === 'CallExpression' &&
      (n.callee as Node).type === 'Identifier' &&
      (n.callee as { value: string }).value === 'route'
    ) {
      const args = n.arguments as { expression: Node }[];
      out.push(args[args.length - 1]!.expression);
    }
    for (const v of Object.values(n)) if (v && typeof v === 'object') handlers(v, out);
  }
  return out;
}

/** Lines spanned by a node; swc's spans are 1-based byte offsets. */
function linesOf(bytes: Buffer, span: { start: number; end: number }): number {
  const text = bytes.subarray(span.start - 1, span.end - 1).toString('utf8');
  return text.split('\n').length;
}

/** Direct database work written in a file: each query or transaction begun, and the handle passed on. */
const DB_CALL =
  /\b(selectFrom|insertInto|updateTable|deleteFrom|replaceInto|mergeInto)\(|\.transaction\(\)|\binTransaction\(|\bsql`|\bctx\.db\b(?!\s*\.\s*(selectFrom|insertInto|updateTable|deleteFrom|transaction)\b)/g;

function files(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const sizes: { file: string; lines: number }[] = [];
for (const file of files('api/routes')) {
  const src = readFileSync(join(root, file), 'utf8');
  const bytes = Buffer.from(src);
  const mod = parseSync(src, { syntax: 'typescript' });
  for (const h of handlers(mod.body)) sizes.push({ file, lines: linesOf(bytes, h.span!) });
}
sizes.sort((a, b) => a.lines - b.lines);
const median =
  sizes.length % 2
    ? sizes[(sizes.length - 1) / 2]!.lines
    : (sizes[sizes.length / 2 - 1]!.lines + sizes[sizes.length / 2]!.lines) / 2;
const max = sizes[sizes.length - 1]!;

const calls = files('api')
  .map((file) => ({ file, n: [...readFileSync(join(root, file), 'utf8').matchAll(DB_CALL)].length }))
  .filter((c) => c.n > 0);
const total = calls.reduce((s, c) => s + c.n, 0);

console.log(
  `route handlers: ${sizes.length}, lines per handler: median ${median}, max ${max.lines} (${relative(root, join(root, max.file))})`,
);
console.log(`direct database calls in api/: ${total}`);
for (const c of calls.sort((a, b) => b.n - a.n)) console.log(`  ${c.file}: ${c.n}`);

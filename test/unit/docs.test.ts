import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The README guides and docs/ holds the rest: every relative link in the project's own Markdown
 * resolves to a file (and, into a Markdown file, to a heading), the README stays short, and every
 * docs/ page is reachable from it.
 */

const SKIP = new Set(['node_modules', '.git', 'dist', 'dist-bench', 'out', '.data', 'test-results', 'peer']);

function markdownFiles(dir = '.'): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return SKIP.has(e.name) ? [] : markdownFiles(p);
    return e.name.endsWith('.md') ? [p] : [];
  });
}

/** Markdown without fenced blocks and inline code, where a link is text, not a link. */
function prose(md: string): string {
  return md.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's anchors for a page's headings (github-slugger: lowercase, punctuation dropped, spaces as dashes, repeats numbered). */
function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const body = md.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const m of body.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const text = m[1].replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

function links(md: string): string[] {
  return [...prose(md).matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]);
}

/** Paths in backticks that name a file of the project (`core/platform/config.ts`), not those that are a link's text. */
function namedPaths(md: string): string[] {
  const body = md.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  return [...body.matchAll(/(?<!\[)`([\w.-]+(?:\/[\w.-]+)+\.(?:ts|md|ya?ml|json|cjs|mjs|txt|sh))`(?!\]\()/g)].map(
    (m) => m[1],
  );
}
/** Build outputs a page may name; they exist only after a build. */
const BUILT = /^(dist|dist-bench|out|web\/dist)\//;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return SKIP.has(e.name) ? [] : sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Ids a test is named after: it('RT1 …'), describe('SC2 …'), it.each(…)('PY3 …'). */
function idsNamedIn(source: string): Set<string> {
  return new Set(
    [...source.matchAll(/\b(?:it|test|describe)(?:\.\w+(?:\([^)]*\))?)?\(\s*['"`]([A-Z]{2}\d+)[ ,:]/g)].map(
      (m) => m[1],
    ),
  );
}

const files = markdownFiles();

describe('documentation', () => {
  it('finds the README and the docs/ pages', () => {
    expect(files).toContain('README.md');
    expect(files.filter((f) => f.startsWith('docs/')).length).toBeGreaterThanOrEqual(5);
  });

  it('every relative link resolves to a file, and every anchor to a heading', () => {
    const broken: string[] = [];
    for (const file of files) {
      const md = readFileSync(file, 'utf8');
      for (const link of links(md)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // https:, mailto:
        const [target, anchor] = link.split('#') as [string, string | undefined];
        const resolved = target ? path.normalize(path.join(path.dirname(file), decodeURIComponent(target))) : file;
        if (!existsSync(resolved)) {
          broken.push(`${file}: ${link} (no ${resolved})`);
          continue;
        }
        if (
          anchor &&
          resolved.endsWith('.md') &&
          statSync(resolved).isFile() &&
          !anchors(readFileSync(resolved, 'utf8')).has(anchor)
        ) {
          broken.push(`${file}: ${link} (no heading #${anchor} in ${resolved})`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('every project path a page names in backticks exists (build outputs aside)', () => {
    const missing: string[] = [];
    for (const file of files) {
      for (const p of namedPaths(readFileSync(file, 'utf8'))) {
        if (!BUILT.test(p) && !existsSync(p) && !existsSync(path.join(path.dirname(file), p)))
          missing.push(`${file}: ${p}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('docs/privacy.md lists every promise a test is named after, and each listed file holds a test named with its id', () => {
    const page = readFileSync('docs/privacy.md', 'utf8');
    const section = page.slice(
      page.indexOf('## The promises and their tests'),
      page.indexOf('\n## ', page.indexOf('## The promises and their tests') + 1),
    );
    const rows = [...section.matchAll(/^\| ([A-Z]{2}\d+) \| .* \| (.*) \|$/gm)].map((m) => ({
      id: m[1],
      tests: [...m[2].matchAll(/\]\(\.\.\/([^)]+)\)/g)].map((l) => l[1]),
    }));
    expect(rows.length).toBeGreaterThanOrEqual(40);
    const wrong: string[] = [];
    for (const r of rows) {
      if (!r.tests.length) wrong.push(`${r.id}: no test listed`);
      for (const t of r.tests)
        if (!existsSync(t) || !idsNamedIn(readFileSync(t, 'utf8')).has(r.id))
          wrong.push(`${r.id}: ${t} has no test named after it`);
    }
    const listed = new Set(rows.map((r) => r.id));
    const named = new Set(
      [...sourceFiles('test'), ...sourceFiles('web/e2e')].flatMap((f) => [...idsNamedIn(readFileSync(f, 'utf8'))]),
    );
    for (const id of named)
      if (!listed.has(id)) wrong.push(`${id}: a test is named after it, docs/privacy.md does not list it`);
    expect(wrong).toEqual([]);
  });

  it('the README stays under 250 lines', () => {
    expect(readFileSync('README.md', 'utf8').split('\n').length).toBeLessThan(250);
  });

  it('the README links every docs/ page', () => {
    const linked = new Set(links(readFileSync('README.md', 'utf8')).map((l) => path.normalize(l.split('#')[0])));
    expect(files.filter((f) => f.startsWith('docs/') && !linked.has(f))).toEqual([]);
  });

  it('computes anchors as GitHub does', () => {
    expect([
      ...anchors('# Key rotation (SC1, SC2)\n## `npm audit` and deps\n## Load\n## Load\n```\n# not a heading\n```'),
    ]).toEqual(['key-rotation-sc1-sc2', 'npm-audit-and-deps', 'load', 'load-1']);
  });
});

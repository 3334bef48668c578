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
export function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const body = md.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const m of body.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const text = m[1].replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const base = text.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

function links(md: string): string[] {
  return [...prose(md).matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]);
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
        if (anchor && resolved.endsWith('.md') && statSync(resolved).isFile() && !anchors(readFileSync(resolved, 'utf8')).has(anchor)) {
          broken.push(`${file}: ${link} (no heading #${anchor} in ${resolved})`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('the README stays under 250 lines', () => {
    expect(readFileSync('README.md', 'utf8').split('\n').length).toBeLessThan(250);
  });

  it('the README links every docs/ page', () => {
    const linked = new Set(links(readFileSync('README.md', 'utf8')).map((l) => path.normalize(l.split('#')[0])));
    expect(files.filter((f) => f.startsWith('docs/') && !linked.has(f))).toEqual([]);
  });

  it('computes anchors as GitHub does', () => {
    expect([...anchors('# Key rotation (SC1, SC2)\n## `npm audit` and deps\n## Load\n## Load\n```\n# not a heading\n```')]).toEqual([
      'key-rotation-sc1-sc2',
      'npm-audit-and-deps',
      'load',
      'load-1',
    ]);
  });
});

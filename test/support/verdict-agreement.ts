import type { Verdict } from '../../core/photos/verdict';
import { expectedReason, type RealCrop } from './real-set';

/** The verdict's main reason: its first (blocking) reason, or 'usable'. */
export function givenReason(verdict: Verdict): string {
  return verdict.usable ? 'usable' : (verdict.reasons[0]?.code ?? 'usable');
}

/**
 * A verdict agrees with a hand label when it is usable exactly when the label is, and, when it is
 * not, its main reason is one of the reasons the label lists as true.
 */
export function agrees(crop: RealCrop, verdict: Verdict): boolean {
  if (verdict.usable !== crop.usable) return false;
  return crop.usable || crop.blocking.includes(givenReason(verdict));
}

/** Rows: the label's main reason; columns: the verdict's main reason; cells: counts. Printed as a table. */
export function confusionTable(rows: { crop: RealCrop; verdict: Verdict }[]): string {
  const expected = [...new Set(rows.map((r) => expectedReason(r.crop)))].sort();
  const given = [...new Set(rows.map((r) => givenReason(r.verdict)))].sort();
  const count = (e: string, g: string) =>
    rows.filter((r) => expectedReason(r.crop) === e && givenReason(r.verdict) === g).length;
  const w = Math.max(...expected.map((e) => e.length), 'expected \\ given'.length) + 2;
  const cw = given.map((g) => Math.max(g.length, 3) + 2);
  const line = (first: string, cells: string[]) => first.padEnd(w) + cells.map((c, i) => c.padStart(cw[i])).join('');
  return [
    line('expected \\ given', given),
    ...expected.map((e) =>
      line(
        e,
        given.map((g) => String(count(e, g) || '.')),
      ),
    ),
  ].join('\n');
}

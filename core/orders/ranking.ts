import type { Verdict } from '../photos/verdict';

/**
 * Which of an order's photos its headshots are made from. Photos are ranked by their verdict's
 * score (measured at upload: face pixels, sharpness, pose, eyes, head and shoulders in frame);
 * copies of one photo (fingerprints a few bits apart) count once; the person's exclusions are
 * honoured; a package with several headshots per style takes different photos, the best first.
 */
export interface Candidate {
  id: string;
  verdict: Verdict | null;
  excluded: boolean;
}

export interface Choice {
  id: string;
  chosen: boolean;
  /** 1 = best. Excluded photos and copies are ranked too, so the person sees where they stood. */
  rank: number;
  score: number;
  parts: Record<string, number>;
  /** The better photo this one is a copy of. */
  duplicate_of: string | null;
  excluded: boolean;
}

/** Fingerprints this many bits apart or fewer (of 64) are the same photo. */
export const DUPLICATE_BITS = 8;

function distance(a: string, b: string): number {
  let bits = 0;
  for (let i = 0; i < a.length; i += 8) {
    let x = (parseInt(a.slice(i, i + 8), 16) ^ parseInt(b.slice(i, i + 8), 16)) >>> 0;
    while (x) {
      bits += x & 1;
      x >>>= 1;
    }
  }
  return bits;
}

export function choosePhotos(candidates: Candidate[], count: number): Choice[] {
  const ranked = candidates
    .filter((c) => c.verdict?.usable)
    .map((c) => ({ c, score: c.verdict!.score ?? 0 }))
    .sort((a, b) => b.score - a.score || a.c.id.localeCompare(b.c.id));
  const kept: { id: string; fingerprint?: string }[] = [];
  const out: Choice[] = [];
  for (const [i, { c, score }] of ranked.entries()) {
    const fp = c.verdict!.fingerprint;
    const copyOf = fp ? kept.find((k) => k.fingerprint && distance(k.fingerprint, fp) <= DUPLICATE_BITS) : undefined;
    const chosen = !c.excluded && !copyOf && kept.length < count;
    if (chosen || (!c.excluded && !copyOf)) kept.push({ id: c.id, fingerprint: fp });
    out.push({
      id: c.id,
      chosen,
      rank: i + 1,
      score,
      parts: c.verdict!.score_parts ?? {},
      duplicate_of: copyOf?.id ?? null,
      excluded: c.excluded,
    });
  }
  return out;
}

import { PACKAGES, type Package } from './catalog';

/**
 * What an order will make and cost, known before payment. A package names a number of headshots a
 * style, each from a different photo; with fewer distinct usable photos than that, the order makes
 * fewer headshots: the quote says how many, why, what to do about it, and the price follows what
 * will be made (the package's price per headshot named, times the headshots made).
 */
export interface Shortfall {
  /** Headshots the package names that this order will not make. */
  missing: number;
  code: 'too_few_photos';
  message: string;
  hint: string;
}

export interface Quote {
  package_id: string;
  styles: number;
  /** Distinct usable photos the order can draw on (copies of one photo count once; left-out photos not at all). */
  photos_usable: number;
  /** What the package names for these styles: photos_per_style x styles. */
  headshots_promised: number;
  /** What the order will make: min(photos_usable, photos_per_style) x styles. */
  headshots_expected: number;
  /** The package's price when nothing is short; otherwise in proportion to the headshots made. */
  amount_cents: number;
  full_price_cents: number;
  currency: string;
  shortfall: Shortfall | null;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export function quote(pkg: Package, styles: number, photosUsable: number): Quote {
  const promised = pkg.photosPerStyle * styles;
  const perStyle = Math.min(photosUsable, pkg.photosPerStyle);
  const expected = perStyle * styles;
  const amount = expected === promised ? pkg.priceCents : Math.round((pkg.priceCents * expected) / promised);
  let shortfall: Shortfall | null = null;
  if (expected < promised) {
    const needed = pkg.photosPerStyle - photosUsable;
    // A package that fits the photos and styles as they are, if there is one.
    const smaller = PACKAGES.filter(
      (p) => p.photosPerStyle <= Math.max(1, photosUsable) && p.maxStyles >= styles && p.priceCents < pkg.priceCents,
    ).sort((a, b) => b.photosPerStyle - a.photosPerStyle)[0];
    shortfall = {
      missing: promised - expected,
      code: 'too_few_photos',
      message: `${pkg.name} makes ${plural(pkg.photosPerStyle, 'headshot')} a style, each from a different photo. With ${plural(photosUsable, 'usable photo')} this order makes ${plural(expected, 'headshot')}, not ${promised}.`,
      hint: `Upload ${plural(needed, 'more usable photo')} of yourself to get all ${promised}${smaller ? `, or choose ${smaller.name} (${plural(smaller.photosPerStyle, 'headshot')} a style)` : ''}.`,
    };
  }
  return {
    package_id: pkg.id,
    styles,
    photos_usable: photosUsable,
    headshots_promised: promised,
    headshots_expected: expected,
    amount_cents: amount,
    full_price_cents: pkg.priceCents,
    currency: pkg.currency,
    shortfall,
  };
}

/** The part of an order's price one missing headshot stands for, in proportion to what was agreed. */
export function refundFor(amountCents: number, expected: number, missing: number): number {
  if (missing >= expected) return amountCents;
  return Math.round((amountCents * missing) / expected);
}

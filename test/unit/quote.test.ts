import { describe, expect, it } from 'vitest';
import { PACKAGES } from '../../core/orders/catalog';
import { quote, refundFor } from '../../core/orders/quote';

describe('SD2 the count and price are known before payment', () => {
  it('SD2 headshots_expected and shortfall for each package with 1, 2 and 5 usable photos', () => {
    const table = PACKAGES.flatMap((pkg) =>
      [1, 2, 5].map((photos) => ({ pkg, photos, q: quote(pkg, Math.min(3, pkg.maxStyles), photos) })),
    );
    for (const { pkg, photos, q } of table) {
      const styles = Math.min(3, pkg.maxStyles);
      expect(q.headshots_promised).toBe(pkg.photosPerStyle * styles);
      expect(q.headshots_expected).toBe(Math.min(photos, pkg.photosPerStyle) * styles);
      if (photos >= pkg.photosPerStyle) {
        expect(q.shortfall).toBeNull();
        expect(q.amount_cents).toBe(pkg.priceCents);
      } else {
        expect(q.shortfall).toMatchObject({
          missing: q.headshots_promised - q.headshots_expected,
          code: 'too_few_photos',
        });
        // The price follows what is made.
        expect(q.amount_cents).toBe(Math.round((pkg.priceCents * q.headshots_expected) / q.headshots_promised));
      }
    }
    // The case: professional, one usable photo, three styles makes 3, not 6, and says what to do.
    const pro = quote(PACKAGES.find((p) => p.id === 'professional')!, 3, 1);
    expect(pro).toMatchObject({ headshots_promised: 6, headshots_expected: 3, amount_cents: 1950 });
    expect(pro.shortfall!.message).toBe(
      'Professional makes 2 headshots a style, each from a different photo. With 1 usable photo this order makes 3 headshots, not 6.',
    );
    // Starter takes one style only, so with three styles the upload is the one way out.
    expect(pro.shortfall!.hint).toBe('Upload 1 more usable photo of yourself to get all 6.');
    // A smaller package is named where it makes everything it names with the photos there are.
    expect(quote(PACKAGES.find((p) => p.id === 'professional')!, 1, 1).shortfall!.hint).toBe(
      'Upload 1 more usable photo of yourself to get all 2, or choose Starter (1 headshot a style).',
    );
    expect(quote(PACKAGES.find((p) => p.id === 'executive')!, 2, 2).shortfall!.hint).toBe(
      'Upload 1 more usable photo of yourself to get all 6, or choose Professional (2 headshots a style).',
    );
  });

  it('SD2 a missing headshot refunds its share of what was paid, the whole order refunds all of it', () => {
    expect(refundFor(3900, 2, 1)).toBe(1950);
    expect(refundFor(7900, 3, 1)).toBe(2633);
    expect(refundFor(7900, 3, 3)).toBe(7900);
    expect(refundFor(1950, 3, 5)).toBe(1950);
  });
});

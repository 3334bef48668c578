import { z } from './openapi';

/** Response and shared request schemas; each is registered once for the OpenAPI document. */

export const IdParam = z.object({ id: z.string().min(1).max(64) });

export const Cursor = z.object({
  cursor: z.string().max(64).optional().openapi({ description: 'next_cursor from the previous page' }),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

export const Verdict = z
  .object({
    usable: z.boolean(),
    faces: z.number().int(),
    score: z.number().optional(),
    reasons: z.array(z.object({ code: z.string(), message: z.string() })),
    measurements: z.record(z.string(), z.number()).optional(),
  })
  .openapi('Verdict');

export const PhotoOut = z
  .object({
    id: z.string(),
    detected_type: z.enum(['jpeg', 'png', 'webp', 'heic']),
    size_bytes: z.number().int(),
    width: z.number().int(),
    height: z.number().int(),
    uploaded_at: z.string().datetime(),
    status: z.enum(['preparing', 'uploaded', 'analysing', 'usable', 'rejected']).openapi({
      description: 'preparing: accepted, being oriented and stripped of metadata (seconds; the content is not served yet); uploaded: ready to order; analysing, usable, rejected: the quality verdict',
    }),
    verdict: Verdict.nullable(),
  })
  .openapi('Photo');

export const HeadshotOut = z
  .object({
    id: z.string(),
    style_id: z.string(),
    photo_id: z.string().nullable(),
    status: z.enum(['pending', 'rendered', 'failed']),
    width: z.number().int().nullable(),
    height: z.number().int().nullable(),
    failure_code: z.string().nullable(),
    content_url: z.string().nullable().openapi({ description: 'Authenticated download; see also POST /v1/headshots/{id}/link' }),
  })
  .openapi('Headshot');

export const OrderOut = z
  .object({
    id: z.string(),
    status: z.enum(['awaiting_payment', 'received', 'processing', 'ready', 'failed']),
    package_id: z.string(),
    style_ids: z.array(z.string()),
    amount_cents: z.number().int(),
    currency: z.string(),
    failure: z.object({ code: z.string(), detail: z.string().nullable() }).nullable(),
    created_at: z.string().datetime(),
    paid_at: z.string().datetime().nullable(),
    delivered_at: z.string().datetime().nullable(),
    photos: z.array(PhotoOut),
    headshots: z.array(HeadshotOut),
  })
  .openapi('Order');

export const page = <T extends z.ZodType>(item: T, name: string) =>
  z.object({ items: z.array(item), next_cursor: z.string().nullable() }).openapi(name);

export const iso = (d: Date | string | null): string | null => (d ? new Date(d).toISOString() : null);

/** Cuts a page from rows fetched newest first with limit + 1: the extra row says there is more. */
export function pageOf<T extends { id: string }>(rows: T[], limit: number): { items: T[]; next_cursor: string | null } {
  const items = rows.slice(0, limit);
  return { items, next_cursor: rows.length > limit ? items[items.length - 1].id : null };
}

import {
  ADVICE_CODES,
  ADVICE_HINTS,
  REASON_CODES,
  REASON_HINTS,
  type AdviceCode,
  type ReasonCode,
} from '../core/photos/verdict';
import { idPattern } from '../core/platform/crypto';
import { PHOTO_STATUSES } from '../core/platform/records';
import { z } from './openapi';

/** Response and shared request schemas; each is registered once for the OpenAPI document. */

/**
 * An id as newId makes it (core/platform/crypto.ts): its kind's prefix, "_" and 26 base32 characters. A
 * malformed id is refused with 400 before any query sees it (a NUL byte would reach Postgres).
 */
export const idOf = (prefix: string, what: string) =>
  z
    .string()
    .regex(idPattern(prefix), { message: `Not a ${what} id` })
    .openapi({ description: `${what} id`, example: `${prefix}_01kbf0v2c8n4zq7w5y3x6t9r1m` });

/** The :id of a route about one thing of a kind. */
export const IdParam = (prefix: string, what: string) => z.object({ id: idOf(prefix, what) });

/** A catalog id (styles): lower-case words joined by "-". */
export const Slug = z
  .string()
  .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/)
  .max(64)
  .openapi({ example: 'studio-grey' });

/** A policy version id, as the privacy officer publishes it. */
export const PolicyVersionId = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,32}$/)
  .openapi({ example: '2027-01' });

/** A signed link's token (core/platform/crypto.ts signToken): base64url payload "." base64url signature. */
export const TokenParam = z.object({
  token: z
    .string()
    .max(1024)
    .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, { message: 'Not a link token' })
    .openapi({ description: 'The token of a signed link', example: 'eyJoIjoiaHNfMDEifQ.c2lnbmF0dXJl' }),
});

const REASON_LIST = REASON_CODES.map((c) => `${c}: ${REASON_HINTS[c]}`).join('; ');
const ADVICE_LIST = ADVICE_CODES.map((c) => `${c}: ${ADVICE_HINTS[c]}`).join('; ');

const found = {
  message: z.string().openapi({ description: 'What was found, in plain words, with the figure behind it' }),
  hint: z.string().openapi({ description: 'One sentence on what to do about it (stable per code)' }),
  measured: z
    .number()
    .optional()
    .openapi({ description: 'The measured figure (face width in px, sharpness, brightness, degrees, ...)' }),
  required: z.number().optional().openapi({ description: 'The figure a usable photo needs, in the same unit' }),
};

export const Reason = z
  .object({
    code: z
      .enum(REASON_CODES as [ReasonCode, ...ReasonCode[]])
      .openapi({ description: `Stable reason code; each comes with this hint: ${REASON_LIST}` }),
    ...found,
    side: z
      .enum(['top', 'bottom', 'left', 'right'])
      .optional()
      .openapi({ description: 'face_cut_off, head_cut_off: the edge of the photo that cuts it' }),
    angle: z.number().int().optional().openapi({
      description:
        'rotated: degrees clockwise the photo is turned from upright (90, 180, 270); head_tilted: degrees the head is tilted, clockwise positive',
    }),
  })
  .openapi('VerdictReason', { description: 'A reason the photo cannot be used: each stops an order' });

export const Advice = z
  .object({
    code: z
      .enum(ADVICE_CODES as [AdviceCode, ...AdviceCode[]])
      .openapi({ description: `Stable advice code; each comes with this hint: ${ADVICE_LIST}` }),
    ...found,
  })
  .openapi('VerdictAdvice', {
    description: 'Advice on a photo that can be used as it is: never stops an order, lowers its rank a little',
  });

export const FaceBox = z
  .object({
    x: z.number().int(),
    y: z.number().int(),
    width: z.number().int(),
    height: z.number().int(),
    score: z.number(),
  })
  .openapi('FaceBox', { description: "A face found, in the prepared photo's pixels" });
/** One page of a list, newest first; the cursor is the last id of the previous page, of the list's kind. */
export const Cursor = (cursor: z.ZodString) =>
  z.object({
    cursor: cursor.optional().openapi({ description: 'next_cursor from the previous page' }),
    limit: z.coerce.number().int().min(1).max(100).default(20).openapi({ description: 'Items per page' }),
  });

export const Verdict = z
  .object({
    usable: z.boolean(),
    faces: z.number().int(),
    boxes: z
      .array(FaceBox)
      .optional()
      .openapi({ description: 'Each face found, the subject first, so a client can show which faces were seen' }),
    score: z.number().optional(),
    reasons: z.array(Reason).openapi({
      description:
        'Every reason the photo cannot be used, the main one first; usable is true exactly when this is empty',
    }),
    advice: z.array(Advice).openapi({
      description:
        'What would make the photo better without stopping it (empty on verdicts made before advice existed)',
    }),
    measurements: z.record(z.string(), z.number()).optional(),
  })
  .openapi('Verdict');

export const PhotoOut = z
  .object({
    id: z.string(),
    detected_type: z
      .enum(['jpeg', 'png', 'webp', 'heic'])
      .openapi({ description: 'Told from the bytes; heic is HEIF with HEVC (as iPhones save it) or AV1 coding' }),
    size_bytes: z.number().int(),
    width: z.number().int(),
    height: z.number().int(),
    uploaded_at: z.string().datetime(),
    status: z.enum(PHOTO_STATUSES).openapi({
      description:
        'preparing: accepted, being oriented and stripped of metadata; analysing: being checked for a usable face (seconds after upload in all); usable: can be ordered; unusable: the verdict says why and what to do; rejected: the file could not be decoded (corrupt_image)',
    }),
    verdict: Verdict.nullable(),
    thumbnail_url: z.string().nullable().openapi({
      description:
        'A small JPEG of the photo made by the service (no metadata, never the original), for <img>: a signed link that expires within minutes (fetch the photo again for a fresh one); null until the photo is prepared',
    }),
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
    position: z
      .number()
      .int()
      .nullable()
      .openapi({ description: '1-based place within its style (a package of 2 a style has 1 and 2)' }),
    content_url: z
      .string()
      .nullable()
      .openapi({ description: 'Authenticated download; see also POST /v1/headshots/{id}/link' }),
  })
  .openapi('Headshot');

export const Shortfall = z
  .object({
    missing: z.number().int().openapi({ description: 'Headshots the package names that this order will not make' }),
    code: z.enum(['too_few_photos']),
    message: z.string(),
    hint: z.string().openapi({ description: 'What to do: upload more photos, or choose a smaller package' }),
  })
  .openapi('Shortfall');

export const Quote = z
  .object({
    package_id: z.string(),
    styles: z.number().int(),
    photos_usable: z
      .number()
      .int()
      .openapi({ description: 'Distinct usable photos the order draws on (copies of one photo count once)' }),
    headshots_promised: z
      .number()
      .int()
      .openapi({ description: 'What the package names for these styles: photos_per_style x styles' }),
    headshots_expected: z
      .number()
      .int()
      .openapi({ description: 'What the order will make: min(photos_usable, photos_per_style) x styles' }),
    amount_cents: z
      .number()
      .int()
      .openapi({ description: "The price: the package's, or in proportion to the headshots made when some are short" }),
    full_price_cents: z.number().int(),
    currency: z.string(),
    shortfall: Shortfall.nullable(),
  })
  .openapi('Quote');

export const MissingHeadshot = z
  .object({
    style_id: z.string(),
    position: z.number().int().nullable(),
    code: z.string().openapi({ description: 'face_not_true or render_error' }),
    reason: z.string().openapi({ description: 'Why, in plain words' }),
  })
  .openapi('MissingHeadshot');

export const Refund = z
  .object({
    amount_cents: z.number().int(),
    currency: z.string(),
    headshots: z.number().int().openapi({ description: 'Headshots refunded' }),
    status: z
      .enum(['pending', 'succeeded'])
      .openapi({ description: 'pending: recorded, being sent to the payment processor' }),
    created_at: z.string().datetime(),
  })
  .openapi('Refund');

export const PhotoChoice = z
  .object({
    photo_id: z.string(),
    chosen: z
      .boolean()
      .openapi({ description: 'The headshots are (or, before payment, will be) made from this photo' }),
    rank: z.number().int().openapi({ description: "1 = the best of the order's usable photos" }),
    score: z.number().openapi({ description: 'How good a headshot source it is, 0..1: the weighted sum of its parts' }),
    parts: z.record(z.string(), z.number()).openapi({
      description:
        'Each 0..1: face_pixels (face width without enlarging), sharpness, frontal, eyes_open, head_in_frame, room_below_chin, frame_width',
    }),
    duplicate_of: z.string().nullable().openapi({ description: 'A better photo this one is a copy of (counted once)' }),
    excluded: z
      .boolean()
      .openapi({ description: 'Left out by you (PATCH /v1/orders/{id}/photos/{photo_id} before paying)' }),
  })
  .openapi('PhotoChoice');

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
    selection: z.array(PhotoChoice).openapi({
      description:
        "The order's usable photos ranked, and which ones its headshots are made from, and why (package photos_per_style of them)",
    }),
    headshots_expected: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'Headshots this order makes, as agreed before payment' }),
    headshots_delivered: z.number().int(),
    shortfall: Shortfall.nullable().openapi({
      description: 'Set when the order makes fewer headshots than the package names (agreed before payment)',
    }),
    missing: z.array(MissingHeadshot).openapi({
      description: 'Headshots that could not be made from any photo of the order, and why; each is refunded',
    }),
    refund: Refund.nullable(),
    headshots: z.array(HeadshotOut).openapi({
      description:
        'The headshots in place: a render that failed and was made again from another photo shows once, as the new one',
    }),
  })
  .openapi('Order');

export const page = <T extends z.ZodType>(item: T, name: string) =>
  z.object({ items: z.array(item), next_cursor: z.string().nullable() }).openapi(name);

export const iso = (d: Date | string | null): string | null => (d ? new Date(d).toISOString() : null);

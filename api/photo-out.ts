import type { AppContext } from '../core/platform/context';
import { signToken } from '../core/platform/crypto';
import type { Photo } from '../core/platform/records';
import { storedVerdict } from '../core/photos/lifecycle';
import { reasonsOf, type Verdict } from '../core/photos/verdict';
import type { z } from './openapi';
import { iso, type PhotoOut } from './schemas';

/** A photo as the API shows it, on its own and within an order. */
export function photoOut(ctx: AppContext, p: Photo): z.infer<typeof PhotoOut> {
  const verdict = storedVerdict(p);
  return {
    id: p.id,
    detected_type: p.detected_type as z.infer<typeof PhotoOut>['detected_type'],
    size_bytes: Number(p.size_bytes),
    width: p.width,
    height: p.height,
    uploaded_at: iso(p.uploaded_at)!,
    status: p.status,
    verdict: verdict ? verdictOut(verdict) : null,
    thumbnail_url: p.thumb_blob_id ? thumbnailUrl(ctx, p) : null,
  };
}

/** A signed link to a photo's thumbnail for <img> (which cannot send a bearer token), valid for minutes (SC5). */
function thumbnailUrl(ctx: AppContext, p: Photo): string {
  const exp = Math.floor(ctx.clock.now().getTime() / 1000) + ctx.config.DOWNLOAD_LINK_TTL_SECONDS;
  return `${ctx.publicUrl}/v1/thumbnails/${signToken(ctx.config.LINK_SECRET, 'thumbnail', { ph: p.id, u: p.user_id, exp })}`;
}

/** The stored verdict as shown: its own fields only, never the framing geometry kept beside it. */
function verdictOut(v: Verdict): Verdict & { advice: NonNullable<Verdict['advice']> } {
  return {
    usable: v.usable,
    faces: v.faces,
    ...(v.boxes && { boxes: v.boxes }),
    ...(v.score !== undefined && { score: v.score }),
    reasons: reasonsOf(v),
    advice: v.advice ?? [],
    ...(v.measurements && { measurements: v.measurements }),
  };
}

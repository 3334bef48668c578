import type { Point } from '../models/face-detector';

/**
 * Head-and-shoulders framing as one similarity transform (rotation, scale, translation): the eye
 * line is made horizontal, the eyes' midpoint lands at `eyeAt` in the frame, and the face spans
 * 1 / `faceWidths` of its width. Only this rigid map touches the face's geometry, which is what
 * the face-true check verifies afterwards.
 *
 * The frame is chosen so that the photo's own pixels fill it wherever the person is: the ideal
 * (eyes EYE_LINE down and centred, FRAME_FACE_WIDTHS across) when it fits, else the best of the
 * allowed frames (eye line EYE_LINE_RANGE, centre EYE_CENTRE_RANGE, down to MIN_FACE_WIDTHS
 * across: a tighter head-and-shoulders). Where a frame still reaches past the photo, no pixel is
 * sampled there: the matte is zero (backdrop) and fades the body out towards that edge.
 */
import { EYE_LINE, FRAME_ASPECT } from '../core/orders/catalog';
import type { Side } from '../core/photos/verdict';

export { EYE_LINE };
export const FRAME_FACE_WIDTHS = 2.8;
/** The tightest allowed head-and-shoulders: the face spans 1 / 1.7 of the frame's width. */
export const MIN_FACE_WIDTHS = 1.7;
/** Allowed eye-line heights (fraction of the frame from the top) and eye-centre positions. */
export const EYE_LINE_RANGE = [0.35, 0.45] as const;
export const EYE_CENTRE_RANGE = [0.45, 0.55] as const;
/** Where the photo ends inside the frame, the body fades out over this fraction of the frame's height. */
export const EDGE_FADE = 0.08;

export interface PhotoSize {
  width: number;
  height: number;
}
/** What framing needs of the face (FaceGeometry as analysis stores it, photo pixels). */
export interface FacePlacement {
  box: { width: number };
  eyes: { right: Point; left: Point };
}

export interface Frame {
  width: number;
  height: number;
  /** Output pixels per source pixel. */
  scale: number;
  /** Rotation applied to the source, radians. */
  angle: number;
  /** Eyes' midpoint in the source. */
  eyes: Point;
  /** Where the eyes' midpoint sits in the frame, as fractions of its width and height. */
  eyeAt: Point;
  /** The frame's width in face widths (FRAME_FACE_WIDTHS when the ideal frame fits). */
  faceWidths: number;
  /** The photo's size: nothing outside it is sampled. */
  photo: PhotoSize;
  /** Sides of the photo that cut through the frame: the matte fades the body out towards them. */
  beyond: Side[];
}

/** The ideal frame, whether or not it fits the photo (eyes EYE_LINE down, centred). */
export function frameFor(
  eyes: { right: Point; left: Point },
  faceWidth: number,
  outWidth: number,
  photo: PhotoSize = { width: Infinity, height: Infinity },
): Frame {
  return placed(eyes, faceWidth, outWidth, photo, FRAME_FACE_WIDTHS, { x: 0.5, y: EYE_LINE });
}

function placed(
  eyes: { right: Point; left: Point },
  faceWidth: number,
  outWidth: number,
  photo: PhotoSize,
  faceWidths: number,
  eyeAt: Point,
  angle = Math.atan2(eyes.left.y - eyes.right.y, eyes.left.x - eyes.right.x),
): Frame {
  const f: Frame = {
    width: outWidth,
    height: Math.round(outWidth * FRAME_ASPECT),
    scale: outWidth / (faceWidth * faceWidths),
    angle,
    eyes: { x: (eyes.left.x + eyes.right.x) / 2, y: (eyes.left.y + eyes.right.y) / 2 },
    eyeAt,
    faceWidths,
    photo,
    beyond: [],
  };
  const b = sourceBounds(f, 0);
  const over = { top: -b.top, bottom: b.bottom - photo.height, left: -b.left, right: b.right - photo.width };
  f.beyond = (['top', 'bottom', 'left', 'right'] as const).filter((s) => over[s] > OVERHANG_TOLERANCE);
  return f;
}

/** Less than this many source pixels past the photo is the bilinear edge, not a cut. */
const OVERHANG_TOLERANCE = 0.5;

/** Where an output pixel comes from in the source (continuous coordinates). */
export function toSource(f: Frame, o: Point): Point {
  const dx = (o.x - f.width * f.eyeAt.x) / f.scale;
  const dy = (o.y - f.height * f.eyeAt.y) / f.scale;
  const c = Math.cos(f.angle),
    s = Math.sin(f.angle);
  return { x: f.eyes.x + c * dx - s * dy, y: f.eyes.y + s * dx + c * dy };
}

/** Where a source point lands in the output. */
export function toOutput(f: Frame, p: Point): Point {
  const dx = p.x - f.eyes.x,
    dy = p.y - f.eyes.y;
  const c = Math.cos(f.angle),
    s = Math.sin(f.angle);
  return {
    x: f.width * f.eyeAt.x + f.scale * (c * dx + s * dy),
    y: f.height * f.eyeAt.y + f.scale * (-s * dx + c * dy),
  };
}

/** The source rectangle the frame reads from, padded by `margin` source pixels. */
export function sourceBounds(f: Frame, margin = 2): { left: number; top: number; right: number; bottom: number } {
  const corners = [
    toSource(f, { x: 0, y: 0 }),
    toSource(f, { x: f.width, y: 0 }),
    toSource(f, { x: 0, y: f.height }),
    toSource(f, { x: f.width, y: f.height }),
  ];
  const round = margin ? { lo: Math.floor, hi: Math.ceil } : { lo: (v: number) => v, hi: (v: number) => v };
  return {
    left: round.lo(Math.min(...corners.map((p) => p.x))) - margin,
    top: round.lo(Math.min(...corners.map((p) => p.y))) - margin,
    right: round.hi(Math.max(...corners.map((p) => p.x))) + margin,
    bottom: round.hi(Math.max(...corners.map((p) => p.y))) + margin,
  };
}

/**
 * The person as framing pictures them from the face alone, in face widths from the eyes'
 * midpoint along the eye line (x) and down the face (y): a head ellipse from HEAD_TOP above the
 * eyes (hair included) to the chin, and below it a neck and shoulders that run on down. Measured
 * on astronaut.png: hair top 0.8, chin 0.7 face widths from the eyes; shoulders about 2.8 wide.
 */
const HEAD_TOP = 0.9;
/** The chin's distance below the eyes, in face widths. */
const CHIN_DROP = 0.75;
const HEAD_HALF_WIDTH = 0.6;
const STEP = 0.1;
interface Silhouette {
  head: Point[];
  body: Point[];
}
const SILHOUETTE: Silhouette = (() => {
  const head: Point[] = [],
    body: Point[] = [];
  const cy = (CHIN_DROP - HEAD_TOP) / 2,
    ry = (CHIN_DROP + HEAD_TOP) / 2;
  // Down to the lowest bottom any allowed frame has: (1 - 0.35) * 1.25 * 2.8 face widths.
  for (let y = -HEAD_TOP; y <= 2.3; y += STEP) {
    for (let x = -1.5; x <= 1.5; x += STEP) {
      if ((x / HEAD_HALF_WIDTH) ** 2 + ((y - cy) / ry) ** 2 <= 1) head.push({ x, y });
      else if (
        (y > CHIN_DROP && Math.abs(x) < 0.35) ||
        (y > CHIN_DROP + 0.35 && Math.abs(x) < Math.min(1.4, 0.35 + (y - CHIN_DROP - 0.35) * 3))
      )
        body.push({ x, y });
    }
  }
  return { head, body };
})();

/** How much of the head and of the body a frame shows beyond the photo (silhouette points), and where. */
function invented(
  f: Frame,
  faceWidth: number,
  points: Point[],
  enough = Infinity,
): { count: number; sides: Set<Side> } {
  const c = Math.cos(f.angle),
    s = Math.sin(f.angle);
  const halfW = f.width / f.scale,
    h = f.height / f.scale;
  const left = -f.eyeAt.x * halfW,
    right = (1 - f.eyeAt.x) * halfW,
    top = -f.eyeAt.y * h,
    bottom = (1 - f.eyeAt.y) * h;
  let count = 0;
  const sides = new Set<Side>();
  for (const q of points) {
    const dx = q.x * faceWidth,
      dy = q.y * faceWidth;
    if (dx < left || dx > right || dy < top || dy > bottom) continue; // not in the frame
    const x = f.eyes.x + c * dx - s * dy,
      y = f.eyes.y + s * dx + c * dy;
    if (x >= 0 && y >= 0 && x <= f.photo.width && y <= f.photo.height) continue;
    count++;
    if (y < 0) sides.add('top');
    if (y > f.photo.height) sides.add('bottom');
    if (x < 0) sides.add('left');
    if (x > f.photo.width) sides.add('right');
    if (count >= enough) break;
  }
  return { count, sides };
}

/**
 * The best allowed frame for this face in this photo. Never one that reaches below the photo's
 * bottom edge while the head is whole: the body would end in a straight line or fade into the
 * backdrop (a floating head), so the frame crops tighter instead. When no frame is clean, in order:
 * show the least of the head beyond the photo, then reach the least below it, then show the least
 * of the body, then the widest frame (most shoulders), then the eyes nearest the ideal place. The eye line is levelled, but where a level frame would show the person beyond a
 * tilted photo's edge (a straight cut through the hair) the head keeps part of its tilt
 * (LEVELLING). Beyond the photo's edge where the person is not (space above the hair, beside the
 * shoulders) the frame may reach: the backdrop fills it, as it would anyway. Only when no frame of
 * MIN_FACE_WIDTHS or wider keeps inside the bottom edge does the frame go tighter (TIGHTEST).
 */
export function chooseFrame(
  face: FacePlacement,
  photo: PhotoSize,
  outWidth: number,
  { tightest = TIGHTEST, levelling = LEVELLING, contacts = [] as Point[] } = {},
): Frame {
  const level = Math.atan2(face.eyes.left.y - face.eyes.right.y, face.eyes.left.x - face.eyes.right.x);
  const widths: number[] = [];
  for (let k = FRAME_FACE_WIDTHS; k >= tightest - 1e-9; k -= 0.05) widths.push(k);
  const allowed = widths.filter((k) => k >= MIN_FACE_WIDTHS - 1e-9);
  const frame = (k: number, at: Point, share: number) =>
    placed(face.eyes, face.box.width, outWidth, photo, k, at, level * share);
  const clean = (f: Frame) =>
    !f.beyond.length ||
    (!invented(f, face.box.width, SILHOUETTE.head, 1).count &&
      !invented(f, face.box.width, SILHOUETTE.body, 1).count &&
      !shown(f, contacts));
  // The widest level frame that shows nobody beyond the photo, eyes as near the ideal as it allows
  // (most photos stop here); then the same with part of the tilt kept.
  for (const share of levelling) {
    for (const k of allowed) {
      for (const at of POSITIONS) {
        const f = frame(k, at, share);
        if (!f.beyond.includes('bottom') && clean(f)) return f;
      }
    }
  }
  let best: { f: Frame; key: number[] } | undefined;
  for (const share of levelling) {
    for (const k of widths) {
      for (const at of POSITIONS) {
        const f = frame(k, at, share);
        // The whole head first (headCutOff reads this choice); then past the bottom only as a last
        // resort, the least of it.
        const head = invented(f, face.box.width, SILHOUETTE.head).count + shown(f, contacts);
        if (best && head > best.key[0]) continue;
        const below = f.beyond.includes('bottom') ? sourceBounds(f, 0).bottom - photo.height : 0;
        if (best && head === best.key[0] && below > best.key[1]) continue;
        const key = [
          head,
          below,
          invented(f, face.box.width, SILHOUETTE.body).count,
          k < MIN_FACE_WIDTHS - 1e-9 ? 1 : 0,
          -share,
          -k,
          Math.hypot(at.x - 0.5, at.y - EYE_LINE),
        ];
        if (!best || less(key, best.key)) best = { f, key };
      }
    }
  }
  return best!.f;
}

/** How many of `contacts` (points just beyond the photo's edge where the person runs off it) a frame shows. */
function shown(f: Frame, contacts: Point[]): number {
  let count = 0;
  for (const p of contacts) {
    const o = toOutput(f, p);
    if (o.x > 0 && o.y > 0 && o.x < f.width && o.y < f.height) count++;
  }
  return count;
}

/** A contact sits this many face widths beyond the photo's edge: a frame reaching less past it shows no cut. */
const CONTACT_OUT = 0.01;
/** Contacts are kept one to a stretch of the edge this many face widths long. */
const CONTACT_STEP = 0.05;
/** The matte is read this many output pixels inside the photo's edge (the guided filter's own edge is softer). */
const EDGE_READ = 2;

/**
 * Where the person runs off the photo inside frame `f`: along each photo edge that cuts through
 * the frame, where the matte (`alpha`, the person only, not yet faded) just inside the edge is
 * mostly person and the frame shows backdrop beyond it. Each such place gives the point
 * CONTACT_OUT face widths beyond the edge (source pixels). A frame that shows one of them cuts the
 * person along the photo's edge, a straight line the silhouette of chooseFrame cannot foresee (big
 * hair, a body upright under a tilted head): chooseFrame, given them, crops tighter or keeps more
 * tilt.
 */
export function edgeContacts(f: Frame, alpha: Uint8Array): Point[] {
  const faceWidth = f.width / f.faceWidths / f.scale;
  const out = CONTACT_OUT * faceWidth,
    step = CONTACT_STEP * faceWidth;
  const kept = new Map<string, Point>();
  const { width: W, height: H } = f.photo;
  // Along each cutting edge every output pixel or so.
  const stride = 1 / f.scale;
  for (const side of f.beyond) {
    const u = outward(f, side);
    const length = side === 'top' || side === 'bottom' ? W : H;
    for (let s = 0; s <= length; s += stride) {
      const e =
        side === 'top'
          ? { x: s, y: 0 }
          : side === 'bottom'
            ? { x: s, y: H }
            : side === 'left'
              ? { x: 0, y: s }
              : { x: W, y: s };
      const o = toOutput(f, e);
      if (!(overhangAt(f, o, u) * f.scale > 0)) continue;
      const x = Math.round(o.x - EDGE_READ * u.x),
        y = Math.round(o.y - EDGE_READ * u.y);
      if (x < 0 || y < 0 || x >= f.width || y >= f.height || alpha[y * f.width + x] < 128) continue;
      const p =
        side === 'top'
          ? { x: s, y: -out }
          : side === 'bottom'
            ? { x: s, y: H + out }
            : side === 'left'
              ? { x: -out, y: s }
              : { x: W + out, y: s };
      const key = `${side}:${Math.round(s / step)}`;
      if (!kept.has(key)) kept.set(key, p);
    }
  }
  return [...kept.values()];
}

/** Where the person reaches a photo edge the frame shows backdrop beyond, they fade out over this many times that backdrop's depth. */
const FADE_PER_OVERHANG = 2;

/**
 * Fades the person (`alpha`, in place) into the backdrop where the photo's edge cuts them inside
 * the frame (shoulders leaving a tight crop): towards each cutting edge, over twice the backdrop
 * the frame shows beyond it there, at most EDGE_FADE of the frame's height, and only as much as
 * the matte just inside the edge is person. Hair that comes near an edge without reaching it is
 * not faded; a frame that shows a sliver beyond an edge fades a sliver.
 */
export function fadeAtEdges(f: Frame, alpha: Uint8Array): void {
  const fade = EDGE_FADE * f.height;
  const W = f.photo.width,
    H = f.photo.height;
  const cuts = f.beyond.map((side) => ({ side, u: outward(f, side) }));
  if (!cuts.length) return;
  const factor = new Float32Array(alpha.length).fill(1);
  // Source point of each output pixel centre, as warp walks it (no allocation in the loop).
  const c = Math.cos(f.angle) / f.scale,
    s = Math.sin(f.angle) / f.scale;
  const cx = f.width * f.eyeAt.x,
    cy = f.height * f.eyeAt.y;
  for (let y = 0; y < f.height; y++) {
    const dy = y + 0.5 - cy;
    const rowX = f.eyes.x - s * dy,
      rowY = f.eyes.y + c * dy;
    for (let x = 0; x < f.width; x++) {
      const dx = x + 0.5 - cx;
      const qx = rowX + c * dx,
        qy = rowY + s * dx;
      for (const { side, u } of cuts) {
        const d = (side === 'top' ? qy : side === 'bottom' ? H - qy : side === 'left' ? qx : W - qx) * f.scale;
        if (d < 0 || d >= fade) continue;
        const edge = { x: x + 0.5 + d * u.x, y: y + 0.5 + d * u.y };
        const len = Math.min(fade, FADE_PER_OVERHANG * overhangAt(f, edge, u));
        if (d >= len) continue;
        const ex = Math.round(edge.x - EDGE_READ * u.x - 0.5),
          ey = Math.round(edge.y - EDGE_READ * u.y - 0.5);
        if (ex < 0 || ey < 0 || ex >= f.width || ey >= f.height) continue;
        const person = alpha[ey * f.width + ex] / 255;
        const t = d / len;
        factor[y * f.width + x] = Math.min(factor[y * f.width + x], 1 - person * (1 - t * t * (3 - 2 * t)));
      }
    }
  }
  for (let i = 0; i < alpha.length; i++) if (factor[i] < 1) alpha[i] = alpha[i] * factor[i] + 0.5;
}

/** Outward from the photo's `side`, in output pixels. */
function outward(f: Frame, side: Side): Point {
  const n =
    side === 'top'
      ? { x: 0, y: -1 }
      : side === 'bottom'
        ? { x: 0, y: 1 }
        : side === 'left'
          ? { x: -1, y: 0 }
          : { x: 1, y: 0 };
  const c = Math.cos(f.angle),
    s = Math.sin(f.angle);
  return { x: c * n.x + s * n.y, y: -s * n.x + c * n.y };
}

/**
 * How much backdrop the frame shows beyond a photo edge at output point `e` on it (`u`: outward
 * from that edge): from `e` outward to the frame's border, in output pixels (0 where `e` is not
 * in the frame).
 */
function overhangAt(f: Frame, e: Point, u: Point): number {
  if (e.x < 0 || e.y < 0 || e.x > f.width || e.y > f.height) return 0;
  let t = Infinity;
  if (u.x > 1e-9) t = Math.min(t, (f.width - e.x) / u.x);
  else if (u.x < -1e-9) t = Math.min(t, -e.x / u.x);
  if (u.y > 1e-9) t = Math.min(t, (f.height - e.y) / u.y);
  else if (u.y < -1e-9) t = Math.min(t, -e.y / u.y);
  return t;
}

/** How much of the eye line's tilt a frame levels, tried in this order. */
const LEVELLING = [1, 0.75, 0.5, 0.25, 0];
/** The tightest frame, in face widths, when nothing wider keeps inside the photo's bottom edge. */
export const TIGHTEST = 1.2;

/** Allowed eye positions in the frame, nearest the ideal first. */
const POSITIONS: Point[] = (() => {
  const out: Point[] = [];
  for (let y = EYE_LINE_RANGE[0]; y <= EYE_LINE_RANGE[1] + 1e-9; y += 0.0125)
    for (let x = EYE_CENTRE_RANGE[0]; x <= EYE_CENTRE_RANGE[1] + 1e-9; x += 0.025) out.push({ x, y });
  return out.sort((a, b) => Math.hypot(a.x - 0.5, a.y - EYE_LINE) - Math.hypot(b.x - 0.5, b.y - EYE_LINE));
})();

function less(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) > 1e-9) return a[i] < b[i];
  return false;
}

/**
 * Which sides of the photo cut through the head in a way no allowed frame can hide: the best
 * frame (chooseFrame) still shows part of the head beyond the photo there. Empty when the head is
 * whole, or when a small cut (a little hair above the photo's top) is framed around.
 *
 * Inputs are what analysis stores for the photo: `face.box.width` (the face detector's box width,
 * photo pixels) and `face.eyes` (FaceMesh eye centres, photo pixels), plus the photo's size as
 * stored (after EXIF rotation). Pure and cheap (about a millisecond): call it from the verdict.
 */
export function headCutOff(face: FacePlacement, photo: PhotoSize): Side[] {
  // Level head-and-shoulders frames only: a tighter crop or a kept tilt does not make a cut head whole.
  const f = chooseFrame(face, photo, 1024, { tightest: MIN_FACE_WIDTHS, levelling: [1] });
  const { sides } = invented(f, face.box.width, SILHOUETTE.head);
  return (['top', 'left', 'right', 'bottom'] as const).filter((s) => sides.has(s));
}

/**
 * Bilinear resampling of `src` (packed RGB) into the frame. `srcOrigin` and `srcScale` say where
 * `src` sits relative to the original photo (src pixel = (photo point - origin) * scale), so the
 * caller can hand in a pre-scaled or upscaled crop, which must cover the frame's part of the photo.
 * Output pixels whose centre lies outside the photo (by more than the half source pixel that
 * bilinear sampling of the edge pixel covers) are not sampled: they get grey and `coverage` 0
 * (255 on the photo; fadeAtEdges fades the person towards an edge that cuts them).
 * `outside` counts the output pixels left unsampled.
 */
export function warp(
  src: { data: Uint8Array; width: number; height: number },
  srcOrigin: Point,
  srcScale: number,
  f: Frame,
): { data: Buffer; coverage: Uint8Array; outside: number } {
  const out = Buffer.alloc(f.width * f.height * 3);
  const coverage = new Uint8Array(f.width * f.height);
  const { width: w, height: h, data } = src;
  const W = f.photo.width,
    H = f.photo.height;
  const c = Math.cos(f.angle) / f.scale,
    s = Math.sin(f.angle) / f.scale;
  const cx = f.width * f.eyeAt.x,
    cy = f.height * f.eyeAt.y;
  let outside = 0;
  let o = 0;
  for (let y = 0; y < f.height; y++) {
    // Photo point of output pixel centre (x + 0.5, y + 0.5).
    const dy = y + 0.5 - cy;
    const rowX = f.eyes.x - s * dy,
      rowY = f.eyes.y + c * dy;
    for (let x = 0; x < f.width; x++, o += 3) {
      const dx = x + 0.5 - cx;
      const px = rowX + c * dx,
        py = rowY + s * dx;
      if (
        px < -OVERHANG_TOLERANCE ||
        py < -OVERHANG_TOLERANCE ||
        px > W + OVERHANG_TOLERANCE ||
        py > H + OVERHANG_TOLERANCE
      ) {
        out[o] = out[o + 1] = out[o + 2] = 128;
        outside++;
        continue;
      }
      coverage[o / 3] = 255;
      // Within the photo, the sample can still fall in the outer half of an edge pixel: take the edge pixel.
      let sx = (px - srcOrigin.x) * srcScale - 0.5;
      let sy = (py - srcOrigin.y) * srcScale - 0.5;
      if (sx < 0) sx = 0;
      else if (sx > w - 1) sx = w - 1;
      if (sy < 0) sy = 0;
      else if (sy > h - 1) sy = h - 1;
      const x0 = sx | 0,
        y0 = sy | 0;
      const x1 = x0 + 1 < w ? x0 + 1 : x0,
        y1 = y0 + 1 < h ? y0 + 1 : y0;
      const fx = sx - x0,
        fy = sy - y0;
      const i00 = (y0 * w + x0) * 3,
        i01 = (y0 * w + x1) * 3,
        i10 = (y1 * w + x0) * 3,
        i11 = (y1 * w + x1) * 3;
      for (let k = 0; k < 3; k++) {
        const top = data[i00 + k] + (data[i01 + k] - data[i00 + k]) * fx;
        const bot = data[i10 + k] + (data[i11 + k] - data[i10 + k]) * fx;
        out[o + k] = top + (bot - top) * fy + 0.5;
      }
    }
  }
  return { data: out, coverage, outside };
}

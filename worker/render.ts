import sharp, { type OutputInfo, type Region } from 'sharp';
import { drawBackdrop, makeBackdrop } from '../core/orders/backdrops';
import type { Style } from '../core/orders/catalog';
import type { BodyMask, BodyMasker } from '../models/body-mask';
import type { Face, FaceDetector, Point, RgbImage } from '../models/face-detector';
import type { Landmarker } from '../models/landmarks';
import { compositePlanar, type CoarseMask } from '../models/matte';
import { estimateForeground, personMatte } from '../models/person-matte';
import { movePoses, otherPeople, POSE_SIZE, type PoseDetector, type Poses } from '../models/pose';
import type { Segmenter } from '../models/segmenter';
import type { FaceAt } from '../models/subject-mask';
import { lookForStyle, type StyleRunner } from '../models/style-graph';
import type { Upscaler } from '../models/upscaler';
import {
  faceReference,
  faceTrue,
  featuresFrom,
  mapFive,
  type FaceTrueReference,
  type FaceTrueResult,
  type FivePoints,
  type Matte,
} from './face-true';
import { lightFor, measureLight, type PersonLight } from './light';
import { release } from '../core/platform/buffers';
import { giveBack, takeBytes, takeFloat32 } from './scratch-buffers';
import { chooseFrame, edgeContacts, fadeAtEdges, sourceBounds, toOutput, toSource, warp, type Frame } from './framing';
import type { FaceGeometry } from '../core/photos/verdict';

export type { FaceGeometry };

export interface RenderModels {
  segmenter: Segmenter;
  styles: StyleRunner;
  upscalers: Record<2 | 4, Upscaler>;
  detector: FaceDetector;
  landmarker: Landmarker;
  pose: PoseDetector;
  body: BodyMasker;
}

/** Style-independent work for one photo: framed pixels and the person's alpha. Cached per photo. */
export interface Prepared {
  frame: Frame;
  framed: RgbImage;
  /** The framed photo with the person's own colour at the matte's edge (spill removed): what is composited. */
  person: RgbImage;
  alpha: Uint8Array;
  /** How much each framed pixel is the photo's own background (0 on the person and beyond the photo). */
  background: Uint8Array;
  /** The person's light as photographed, matched to each style's when composited. */
  light: PersonLight;
  /** Output pixels beyond the photo, filled by the backdrop. */
  outside: number;
  reference: FivePoints;
  /** What the face-true check compares each render with. */
  truth: FaceTrueReference;
  upscaled: 0 | 2 | 4;
  timings: Record<string, number>;
}

export interface Rendered {
  jpeg: Buffer;
  width: number;
  height: number;
  faceTrue: FaceTrueResult;
  timings: Record<string, number>;
}

/** Above this many output pixels per source pixel, ESRGAN enlarges the crop instead of interpolation. */
export const UPSCALE_ABOVE = 1.25;

const now = () => performance.now();

export async function prepare(
  models: RenderModels,
  original: Buffer,
  geometry: FaceGeometry,
  width: number,
): Promise<Prepared> {
  const timings: Record<string, number> = {};
  const meta = await sharp(original).metadata();
  const W = meta.width,
    H = meta.height;
  const reference = geometry.fivePoint ?? {
    rightEye: geometry.eyes.right,
    leftEye: geometry.eyes.left,
    nose: geometry.eyes.right,
    mouthRight: geometry.eyes.right,
    mouthLeft: geometry.eyes.left,
  };
  const photo = { width: W, height: H };
  const people = await photoPeople(models, original);
  let frame = chooseFrame(geometry, photo, width);
  let cut = await frameAndMatte(models, original, frame, geometry, reference, people, timings);
  // Where the person runs off the photo inside the frame, the frame is chosen again around those
  // places (big hair, a body upright under a tilted head), and the photo framed and matted again.
  const contacts: Point[] = [];
  for (let pass = 1; pass < FRAMINGS; pass++) {
    const more = edgeContacts(frame, cut.alpha);
    if (!more.length) break;
    contacts.push(...more);
    const again = chooseFrame(geometry, photo, width, { contacts });
    if (sameFrame(again, frame)) break;
    frame = again;
    for (const dead of [cut.framed.data, cut.alpha, cut.coverage]) release(dead);
    const last = cut.enlarged;
    cut = await frameAndMatte(models, original, frame, geometry, reference, people, timings, last);
    if (last) release(last.image.data);
  }
  const { alpha, framed, coverage, outside, small, crop, upscaled } = cut;
  if (cut.enlarged) release(cut.enlarged.image.data);
  let t = now();
  // Spill out: edge pixels take the person's colour, not the old background's.
  const person: RgbImage = { data: estimateForeground(framed, alpha), width: frame.width, height: frame.height };
  timings.foreground = now() - t;
  t = now();
  const background = new Uint8Array(alpha.length);
  for (let i = 0; i < alpha.length; i++) background[i] = coverage[i] ? 255 - alpha[i] : 0;
  // Beyond the photo the backdrop shows; towards an edge that cuts the body, the body fades into it.
  fadeAtEdges(frame, alpha);
  if (outside) for (let i = 0; i < alpha.length; i++) if (!coverage[i]) alpha[i] = 0;
  const light = measureLight(framed, alpha, coverage, skinMask(frame, reference, alpha));
  timings.edges = now() - t;
  t = now();
  // An enlarged face is compared with the photo's own crop, not ESRGAN's output: the check guards the upscaler too.
  const fromCrop = (q: Point) => ({ x: toSource(frame, q).x - crop.left, y: toSource(frame, q).y - crop.top });
  const truth = await trueReference(
    models,
    framed,
    { alpha, width: frame.width, height: frame.height },
    frame,
    geometry,
    small && { image: small, map: fromCrop },
  );
  timings.faceTrueReference = now() - t;
  return {
    frame,
    framed,
    person,
    alpha,
    background,
    light,
    outside,
    reference,
    truth,
    upscaled,
    timings,
  };
}

/**
 * The people MoveNet finds in the whole photo (photo px), found once for all its framings: a tight
 * frame cuts its neighbours down to a shoulder or an elbow, which MoveNet scores less surely than
 * people it sees whole (and now and then the other way round: both are used).
 */
export async function photoPeople(models: Pick<RenderModels, 'pose'>, original: Buffer): Promise<Poses> {
  const whole = await sharp(original)
    .resize(POSE_SIZE, POSE_SIZE, { fit: 'inside' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const { width } = await sharp(original).metadata();
  const shrink = width / whole.info.width;
  return movePoses(
    await models.pose.detect({ data: whole.data, width: whole.info.width, height: whole.info.height }),
    (q) => ({ x: q.x * shrink, y: q.y * shrink }),
    shrink,
  );
}

/**
 * The people in a framing (frame px): MoveNet on the framed photo, and what it found in the whole
 * photo placed in the frame. The framed photo it looks at is drawn small (its input is 256 px)
 * from the photo's own pixels, so it needs no ESRGAN and can run first in a framing.
 */
export async function framePeople(
  models: Pick<RenderModels, 'pose'>,
  original: Buffer,
  frame: Frame,
  people: Poses,
): Promise<Poses> {
  const k = POSE_SIZE / Math.max(frame.width, frame.height);
  const small: Frame = {
    ...frame,
    width: Math.round(frame.width * k),
    height: Math.round(frame.height * k),
    scale: frame.scale * k,
  };
  const crop = photoUnder(frame);
  const scaled = await sharp(original)
    .extract(crop)
    .resize(Math.max(1, Math.round(crop.width * small.scale)), Math.max(1, Math.round(crop.height * small.scale)))
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const framed = warp(
    { data: scaled.data, width: scaled.info.width, height: scaled.info.height },
    { x: crop.left, y: crop.top },
    scaled.info.width / crop.width,
    small,
  );
  const found = await models.pose.detect({ data: framed.data, width: small.width, height: small.height });
  const inFrame = movePoses(found, (q) => ({ x: q.x / k, y: q.y / k }), 1 / k);
  const inPhoto = movePoses(people, (q) => toOutput(frame, q), frame.scale);
  return { people: [...inFrame.people, ...inPhoto.people], peaks: [...inFrame.peaks, ...inPhoto.peaks] };
}

/** The part of the photo under the frame (photo px, whole pixels). */
function photoUnder(frame: Frame): Region {
  const { width: W, height: H } = frame.photo;
  const b = sourceBounds(frame);
  return {
    left: Math.max(0, b.left),
    top: Math.max(0, b.top),
    width: Math.min(W, b.right) - Math.max(0, b.left),
    height: Math.min(H, b.bottom) - Math.max(0, b.top),
  };
}

/** At most this many framings of a photo: the first, and again where the person runs off the photo. */
const FRAMINGS = 3;

/** ESRGAN's output for a crop of the photo (photo px), kept from one framing of a preparation for the next. */
export interface Enlarged {
  factor: 2 | 4;
  crop: Region;
  image: RgbImage;
}

/**
 * A framing again moves the frame by a few pixels (the crop under it changes by 2-25 px on the real
 * set), so ESRGAN's output for the last crop holds nearly all of the new one: when it holds at least
 * this share of it, that output is cut to the new crop and the thin rest (at the frame's outer
 * edge) is enlarged with lanczos, instead of running ESRGAN again (2-3 s of CPU a framing).
 */
const REUSE_SHARE = 0.9;

function overlap(a: Region, b: Region): Region | undefined {
  const left = Math.max(a.left, b.left),
    top = Math.max(a.top, b.top);
  const right = Math.min(a.left + a.width, b.left + b.width),
    bottom = Math.min(a.top + a.height, b.top + b.height);
  return right > left && bottom > top ? { left, top, width: right - left, height: bottom - top } : undefined;
}

/** `small` (the photo's `crop`) enlarged `kept.factor` times from ESRGAN's output for an earlier crop, or undefined when that holds too little of it. */
export async function enlargeFromKept(
  kept: Enlarged | undefined,
  factor: 2 | 4,
  crop: Region,
  small: RgbImage,
): Promise<RgbImage | undefined> {
  const both = kept?.factor === factor ? overlap(kept.crop, crop) : undefined;
  if (!kept || !both || both.width * both.height < REUSE_SHARE * crop.width * crop.height) return undefined;
  const raw = (im: RgbImage) => ({ raw: { width: im.width, height: im.height, channels: 3 as const } });
  const part = await sharp(kept.image.data, raw(kept.image))
    .extract({
      left: (both.left - kept.crop.left) * factor,
      top: (both.top - kept.crop.top) * factor,
      width: both.width * factor,
      height: both.height * factor,
    })
    .raw()
    .toBuffer();
  const out = await sharp(small.data, raw(small))
    .resize(crop.width * factor, crop.height * factor, { kernel: 'lanczos3' })
    .composite([
      {
        input: part,
        raw: { width: both.width * factor, height: both.height * factor, channels: 3 },
        left: (both.left - crop.left) * factor,
        top: (both.top - crop.top) * factor,
      },
    ])
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: out.data, width: out.info.width, height: out.info.height };
}

const sameFrame = (a: Frame, b: Frame) =>
  a.scale === b.scale && a.angle === b.angle && a.eyeAt.x === b.eyeAt.x && a.eyeAt.y === b.eyeAt.y;

const add = (timings: Record<string, number>, stage: string, since: number) =>
  (timings[stage] = (timings[stage] ?? 0) + now() - since);

/**
 * The photo through `frame` and the person's matte on it: the crop read (and enlarged with ESRGAN
 * when the frame has too few of the photo's pixels), warped into the frame, segmented and matted.
 * The matte is not yet faded towards a photo edge that cuts the person (fadeAtEdges).
 */
async function frameAndMatte(
  models: RenderModels,
  original: Buffer,
  frame: Frame,
  geometry: FaceGeometry,
  reference: FivePoints,
  /** The people MoveNet found in the whole photo (photo px). */
  people: Poses,
  timings: Record<string, number>,
  /** ESRGAN's output from the preparation's last framing, if any. */
  kept?: Enlarged,
) {
  let t = now();
  // MoveNet first, on the session the whole photo's detection just used; the session goes before
  // ESRGAN and the matte run, so it never adds to their memory.
  const poses = await framePeople(models, original, frame, people);
  models.pose.release();
  add(timings, 'pose', t);
  t = now();
  const crop = photoUnder(frame);
  const targetW = Math.max(1, Math.round(crop.width * frame.scale));
  const targetH = Math.max(1, Math.round(crop.height * frame.scale));
  let upscaled: Prepared['upscaled'] = 0;
  let scaled: { data: Buffer; info: OutputInfo };
  let small: RgbImage | undefined;
  let enlarged: Enlarged | undefined;
  if (frame.scale > UPSCALE_ABOVE) {
    // Too few pixels for the output: enlarge with ESRGAN, then settle the exact scale with lanczos.
    const factor: 2 | 4 = frame.scale > 2.5 ? 4 : 2;
    const raw = await sharp(original).extract(crop).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    small = { data: raw.data, width: raw.info.width, height: raw.info.height };
    add(timings, 'decode', t);
    t = now();
    const big = (await enlargeFromKept(kept, factor, crop, small)) ?? (await models.upscalers[factor].upscale(small));
    add(timings, 'upscale', t);
    t = now();
    scaled = await sharp(big.data, { raw: { width: big.width, height: big.height, channels: 3 } })
      .resize(targetW, targetH, { kernel: 'lanczos3' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    enlarged = { factor, crop, image: big };
    upscaled = factor;
  } else {
    scaled = await sharp(original)
      .extract(crop)
      .resize(targetW, targetH, { kernel: 'lanczos3' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    add(timings, 'decode', t);
  }
  t = now();
  const warped = warp(
    { data: scaled.data, width: scaled.info.width, height: scaled.info.height },
    { x: crop.left, y: crop.top },
    scaled.info.width / crop.width,
    frame,
  );
  const framed: RgbImage = { data: warped.data, width: frame.width, height: frame.height };
  add(timings, 'frame', t);
  t = now();
  const coarse = await models.segmenter.segment(framed);
  add(timings, 'segment', t);
  t = now();
  const body = await models.body.mask(framed, subjectFace(frame, reference));
  add(timings, 'body', t);
  t = now();
  const alpha = matte(framed, coarse, frame, reference, geometry.others, warped.coverage, poses, body);
  add(timings, 'refine', t);
  return { crop, small, upscaled, enlarged, framed, coverage: warped.coverage, outside: warped.outside, alpha };
}

/**
 * Where the face-true check looks and what it expects there: FaceMesh on the framed photo (the
 * face placed from the upload's geometry) places the features; their pixels are read from
 * `source` (the photo through the frame) or else from the framed photo.
 */
async function trueReference(
  models: RenderModels,
  framed: RgbImage,
  person: Matte,
  frame: Frame,
  geometry: FaceGeometry,
  source?: { image: RgbImage; map: (q: Point) => Point },
): Promise<FaceTrueReference> {
  const { box } = geometry;
  const centre = toOutput(frame, { x: box.x + box.width / 2, y: box.y + box.height / 2 });
  const side = box.width * frame.scale;
  const [rightEye, leftEye] = [toOutput(frame, geometry.eyes.right), toOutput(frame, geometry.eyes.left)];
  const face: Face = {
    box: { x: centre.x - side / 2, y: centre.y - side / 2, width: side, height: side },
    score: 1,
    keypoints: { rightEye, leftEye, nose: centre, mouth: centre, rightEar: rightEye, leftEar: leftEye },
  };
  const { points } = await models.landmarker.landmarks(framed, face);
  return source
    ? faceReference(featuresFrom(points), person, source.image, source.map)
    : faceReference(featuresFrom(points), person, framed);
}

/**
 * The person's matte on the framed photo: the coarse mask refined with a colour model, the face's
 * person only (models/person-matte.ts); `inPhoto` is warp's coverage (where the photo ends), `poses`
 * the people MoveNet found in the framed photo (models/pose.ts).
 */
export function matte(
  framed: RgbImage,
  coarse: CoarseMask,
  frame: Frame,
  reference: FivePoints,
  others: FaceGeometry['others'] = [],
  inPhoto?: Uint8Array,
  poses: Poses = { people: [], peaks: [] },
  body?: BodyMask,
): Uint8Array {
  const face = subjectFace(frame, reference);
  const faces = others.map((b) => ({
    ...toOutput(frame, { x: b.x + b.width / 2, y: b.y + b.height / 2 }),
    width: b.width * frame.scale,
  }));
  return personMatte(framed, coarse, {
    face,
    others: faces,
    inPhoto,
    bones: otherPeople(poses, face, face.width),
    body: body && ((x, y) => body.at(x, y)),
  });
}

/** The subject's face in the frame: the eyes' midpoint, the face's width and the frame's levelling angle. */
export function subjectFace(frame: Frame, reference: FivePoints): FaceAt {
  const eyes = toOutput(frame, {
    x: (reference.rightEye.x + reference.leftEye.x) / 2,
    y: (reference.rightEye.y + reference.leftEye.y) / 2,
  });
  return { ...eyes, width: frame.width / frame.faceWidths, tilt: frame.angle };
}

/**
 * Soft ellipse over the face, inside the person's alpha: where skin smoothing may act. Into `out`
 * (a thread's scratch buffer for a style run); not kept with the Prepared, as it takes a few
 * milliseconds and 5 MB of floats a photo.
 */
export function skinMask(
  frame: Frame,
  reference: FivePoints,
  alpha: Uint8Array,
  out: Float32Array = new Float32Array(frame.width * frame.height),
): Float32Array {
  out.fill(0);
  const r = mapFive(reference, (q) => toOutput(frame, q));
  const cx = (r.rightEye.x + r.leftEye.x + r.mouthRight.x + r.mouthLeft.x) / 4;
  const cy = (r.rightEye.y + r.leftEye.y + r.mouthRight.y + r.mouthLeft.y) / 4;
  const iod = Math.hypot(r.leftEye.x - r.rightEye.x, r.leftEye.y - r.rightEye.y);
  const rx = iod * 1.15,
    ry = iod * 1.55;
  // Only the ellipse's bounding box (d < 1.2) can be nonzero.
  const ex = rx * Math.sqrt(1.2),
    ey = ry * Math.sqrt(1.2);
  for (let y = Math.max(0, Math.floor(cy - ey)); y < Math.min(frame.height, Math.ceil(cy + ey)); y++) {
    for (let x = Math.max(0, Math.floor(cx - ex)); x < Math.min(frame.width, Math.ceil(cx + ex)); x++) {
      const d = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2;
      if (d < 1.2) out[y * frame.width + x] = (d < 0.8 ? 1 : (1.2 - d) / 0.4) * (alpha[y * frame.width + x] / 255);
    }
  }
  return out;
}

/** Planar 0..1 floats (as the style graph gives them) into packed RGB bytes. */
function fromPlanar(p: Float32Array, out: Buffer): Buffer {
  const n = out.length / 3;
  for (let i = 0; i < n; i++) {
    out[i * 3] = p[i] * 255 + 0.5;
    out[i * 3 + 1] = p[n + i] * 255 + 0.5;
    out[i * 3 + 2] = p[2 * n + i] * 255 + 0.5;
  }
  return out;
}

/** Finds the face on a render and maps its five points back into the original photo. */
export async function fivePointsOnRender(
  models: RenderModels,
  image: RgbImage,
  frame: Frame,
): Promise<FivePoints | undefined> {
  const faces: Face[] = await models.detector.detect(image);
  if (!faces.length) return undefined;
  const face = faces.reduce((a, b) => (b.box.width > a.box.width ? b : a));
  const lm = await models.landmarker.landmarks(image, face);
  const fp = lm.fivePoint;
  return mapFive(
    { rightEye: fp.rightEye, leftEye: fp.leftEye, nose: fp.nose, mouthRight: fp.mouthRight, mouthLeft: fp.mouthLeft },
    (q) => toSource(frame, q),
  );
}

/** A style's pixels on a prepared photo: backdrop, composite, the style's ONNX graph (packed RGB, frame size). */
export async function stylePixels(
  models: RenderModels,
  p: Prepared,
  style: Style,
  timings: Record<string, number> = {},
): Promise<Buffer> {
  return styleInto(models, p, style, timings, (bytes) => Buffer.allocUnsafe(bytes));
}

/** `stylePixels` into a buffer from `output`; the composite, skin and graded planes are this thread's scratch buffers. */
async function styleInto(
  models: RenderModels,
  p: Prepared,
  style: Style,
  timings: Record<string, number>,
  output: (bytes: number) => Buffer,
): Promise<Buffer> {
  const { frame } = p;
  const n = frame.width * frame.height;
  let t = now();
  // A solid or gradient backdrop is drawn into a scratch buffer; the others come from makeBackdrop
  // (the bokeh shared, never written).
  const b = style.backdrop;
  const drawn =
    b.kind === 'solid' || b.kind === 'gradient'
      ? drawBackdrop(b, takeBytes(n * 3), frame.width, frame.height)
      : undefined;
  const backdrop = drawn
    ? { data: drawn, width: frame.width, height: frame.height }
    : await makeBackdrop(b, frame.width, frame.height, p.framed, p.background);
  const composed = compositePlanar(p.person, p.alpha, backdrop, takeFloat32(n * 3), lightFor(p.light, style));
  if (drawn) giveBack(drawn);
  timings.compose = now() - t;
  t = now();
  const r = mapFive(p.reference, (q) => toOutput(frame, q));
  const light = [(r.rightEye.x + r.leftEye.x) / 2 / frame.width, r.nose.y / frame.height, 0.32, 1.3] as const;
  // Through the models thread the inputs move there and come back (worker/shared-models.ts); in one
  // thread they are given back here. Each run draws its own skin mask.
  const skin = skinMask(frame, p.reference, p.alpha, takeFloat32(n));
  const graded = await models.styles.run(
    style.id,
    lookForStyle(style),
    composed,
    skin,
    frame.width,
    frame.height,
    light,
  );
  giveBack(composed);
  giveBack(skin);
  const pixels = fromPlanar(graded, output(n * 3));
  giveBack(graded);
  timings.style = now() - t;
  return pixels;
}

/** One style on a prepared photo: its pixels, the face-true check, JPEG. */
export async function renderStyle(
  models: RenderModels,
  p: Prepared,
  style: Style,
  tolerance: number,
): Promise<Rendered> {
  const timings: Record<string, number> = {};
  const { frame } = p;
  const pixels = await styleInto(models, p, style, timings, takeBytes);
  let t = now();
  const check = faceTrue(p.truth, { data: pixels, width: frame.width, height: frame.height }, tolerance);
  timings.faceTrue = now() - t;
  t = now();
  // A fresh pipeline from raw pixels carries no metadata; none is added.
  const jpeg = await sharp(pixels, { raw: { width: frame.width, height: frame.height, channels: 3 } })
    .jpeg({ quality: 90, chromaSubsampling: '4:4:4' })
    .toBuffer();
  timings.encode = now() - t;
  giveBack(pixels);
  return { jpeg, width: frame.width, height: frame.height, faceTrue: check, timings };
}

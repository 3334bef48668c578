/**
 * Only the subject in the matte. Pure pixel maths, no model.
 *
 * The segmenter marks every person: a friend cheek to cheek, a neighbour's shoulder, the woman
 * behind. The colour model (person-matte.ts) cannot tell one person's skin from another's, and where
 * it cuts into another person it leaves holes. Here the matte's grid is split between the subject
 * and everyone else before the guided filter draws the edge:
 *
 * 1. Seeds. The subject: their face and a column below it (their neck and chest). The others: every
 *    other face FaceMesh confirmed in the upload (with a column below it), other people's skeletons
 *    (MoveNet's keypoints and the bones between them, models/pose.ts `otherPeople`: a neighbour's
 *    lit shoulder, a friend's wrist on her green top), near which the others grow as freely inside
 *    the envelope as outside it, and whoever the mask
 *    brings into the frame from its edge above the eyes (along the photo's vertical) outside an
 *    envelope where the subject's head, hair and body can be (`beyondBy`), where the subject's own
 *    reach is costly (across an edge): a neighbour's head or shoulder, the woman behind. Below the
 *    eyes, strangers coming in from the photo's sides or bottom (a friend's top in a lower corner):
 *    cells aside from the body's axis whose colours the subject's own (core, hair above the eyes)
 *    lack; they leave where they lie (not grown), with what is left of them apart from the subject.
 *    The photo's edge is the frame's, or where the frame reaches past the photo (`inPhoto`).
 * 2. Two geodesic growths (a watershed on colour edges, Dijkstra from each seed set) over the mask:
 *    each cell goes to whichever reaches it at the lower cost; a step costs more the more the colour
 *    changes, the subject pays to go beyond the envelope and the others to come inside it (but not
 *    beside the head and neck where the colour is not the head's own: a neighbour's near-black
 *    hair beside a blonde's neck), so the border between two people falls on the edge between them
 *    (dark hair against a cheek). Against the others the subject also pays for each step into a
 *    colour foreign to her (FOREIGN_STEP), so a neighbour's top that her hair shades into with no
 *    sharp edge goes to the others. Where BlazePose's mask of the subject's own body (models/body-mask.ts)
 *    leaves a cell out and someone else's skeleton is near, the cell is their ground (`theirs`): the
 *    others grow there freely and are seeded there, and the subject pays more to step in (the woman
 *    behind's dark red top that the subject's dark hair shades into). Where the mask is sure of her
 *    inside the envelope, in her head's colours, the others pay more to come in (her long hair
 *    falling behind her shoulder beside a neighbour in black).
 * 3. Cells that go to the others, cells of a colour foreign to the subject that a stranger's growth
 *    reaches before the subject, who reaches them only across edges (the rest of a friend's top
 *    along the edge), or cells that the subject reaches only far beyond the envelope (a soft
 *    lateral fall-off, not a straight cut where the photo ends), leave the matte, softly (their
 *    border is blurred over BLUR cells), so a removed person leaves the backdrop, not a hole.
 * 4. Holes: a pocket of low matte enclosed by the subject (the colour model's doubt about a patch of
 *    hair or skin) and smaller than HOLE face widths squared is filled.
 *
 * Labels on the matte's grid halved (8-px cells, 128x160 at 1024x1280): about 10 ms CPU a framing
 * (median over the usable head-and-shoulders crops' framings; docs/subject-mask.md).
 */
import { boxMean } from './matte';
import type { Bone } from './pose';

/** A face in the grid's image, px: the eyes' midpoint (or the face's centre) and its width. */
export interface FaceAt {
  x: number;
  y: number;
  width: number;
  /** Radians the image was turned to level the eyes (Frame.angle): the body hangs along the photo's vertical. */
  tilt?: number;
}

/** Cells with at least this matte are crossed by the growth (the soft rim too, so it is labelled with its person). */
const LOW = 0.3;
/** Above this a cell is the person's (for holes: below it a cell is a pocket). */
const HALF = 0.5;
/** A plain step's cost; the colour distance (0..441 RGB) between the two cells adds (d / SIGMA)^2, at most EDGE_CAP. */
const STEP = 0.4;
const SIGMA = 16;
const EDGE_CAP = 12;
/** A step beyond the envelope costs up to TAX more, reached RAMP face widths beyond it. */
const TAX = 0.6;
const RAMP = 0.3;
/** Beyond the envelope the subject fades out between these costs from their face. */
const REACH = 40;
const FAR = 80;
/** Someone coming into the frame beyond the envelope seeds the others where the subject reaches them at more than this (across an edge at least). */
const SEED = 20;
/** A step into a cell of low matte costs this much more at matte 0 (the growth prefers the person's interior). */
const THIN = 4;
/** The border where a removed person met the subject is blurred over this many (halved) cells each way. */
const BLUR = 1;
/** Pockets enclosed by the subject smaller than this, in face widths squared, are filled. */
const HOLE = 0.06;
/**
 * A stranger coming in from the photo's sides or bottom below the eyes (a friend's top, a
 * neighbour's sleeve in a lower corner) is where the mask lies more than SIDE face widths across
 * from the body's axis, the subject reaches it at more than STRANGER_SEED, and its colour is foreign
 * to the subject's own (core, hair above the eyes): below FOREIGN times the density of a uniform
 * spread over the histogram's bins.
 */
const SIDE = 0.7;
const FOREIGN = 0.5;
/** Against the others, a step into a cell of a colour foreign to the subject costs up to this much more (at density 0). */
const FOREIGN_STEP = 4;
/** From there the stranger spreads over cells below STRAY times that density. */
const STRAY = 4;
/** The subject reaches a stranger across an edge or two at least (their own top below the chest is nearer). */
const STRANGER_SEED = 36;
/** Another person's bone (models/pose.ts `otherPeople`) seeds the cells within this many face widths of it. */
const BONE = 0.08;
/** Within this many face widths of another person's bone, the others pay no more to come inside the envelope. */
const OWN_GROUND = 0.5;
/**
 * Someone else's ground (BlazePose and MoveNet agreeing, `theirs`): within THEIR_REACH face widths
 * of another person's skeleton, where BlazePose's mask of the subject's body is below NOT_MINE;
 * how surely rises to 1 where the mask is 0. There the others grow freely, the subject pays up to
 * BODY_STEP more a step against them, and from THEIRS_SEED on (across an edge from the subject)
 * the others are seeded.
 */
const THEIR_REACH = 1.0;
const NOT_MINE = 0.7;
const BODY_STEP = 4;
const THEIRS_SEED = 0.5;
/**
 * Where BlazePose's mask (unwidened) is above MINE_SURE inside the envelope, in a colour of the
 * subject's head, the others pay up to MINE_STEP more a step to come in (0 at MINE_SURE, all of it
 * at 1). Measured on a new crop of p3-dark (her hair behind her shoulder beside a neighbour in black:
 * 0.00 -> 0.45 of it kept at 4; 0.23 at 2, 0.62 at 8) and on the labelled set: outside the envelope
 * it took a neighbour's ponytail beside p3-dark-hs's hair (0.09 -> 0.92); with all of the subject's
 * colours (her black top too) a neighbour's dark hair and top beside p3-blonde's shoulder (0.06 -> 0.76).
 */
const MINE_SURE = 0.9;
const MINE_STEP = 4;
/** BlazePose's mask is widened by this many face widths before it says where the subject is not. */
const MINE_MARGIN = 0.05;
/** Colour levels a channel of the core's histogram (8: 512 bins). */
const CORE_LEVELS = 8;

/**
 * How far (face widths) a point lies beyond where the subject's head, hair and body may be, negative
 * inside: (u, v) in face widths from the eyes' midpoint, along the eye line and down the face. A head
 * with its hair (an ellipse HEAD_HALF wide, from HAIR_TOP above the eyes), and from SHOULDER_START
 * down a body that widens by SPREAD per face width (shoulders, arms, long hair over them). The body
 * hangs from the chin along the photo's own vertical, which the levelled frame turns by `tilt`
 * (sin s, cos c): a head tilted 45 degrees still sits on an upright body. Measured on the real set's
 * usable head-and-shoulders crops: big curls reach 1.0 face widths beside the eyes and 1.2 above them.
 */
const HAIR_TOP = 1.45;
const HEAD_HALF = 1.0;
const HEAD_CENTRE = -0.1;
const CHIN = 0.75;
const SHOULDER_START = 0.6;
const SHOULDER_HALF = 0.85;
const SPREAD = 1.2;
function beyondBy(u: number, v: number, s: number, c: number): number {
  const t = (v - HEAD_CENTRE) / (HAIR_TOP + HEAD_CENTRE);
  let d = t > -1 && t < 1 ? Math.abs(u) - HEAD_HALF * Math.sqrt(1 - t * t) : Infinity;
  const { across, down } = body(u, v, s, c);
  if (down >= SHOULDER_START - CHIN)
    d = Math.min(d, Math.abs(across) - (SHOULDER_HALF + (down - SHOULDER_START + CHIN) * SPREAD));
  return d;
}

/** A point's place from the chin along the photo's own axes. */
function body(u: number, v: number, s: number, c: number): { across: number; down: number } {
  return { across: u * c - (v - CHIN) * s, down: u * s + (v - CHIN) * c };
}

/** The face: an ellipse about the eyes' midpoint. */
const inFace = (u: number, v: number) => (u / 0.42) ** 2 + ((v - 0.05) / 0.65) ** 2 <= 1;

/** Where the subject surely is: their face, and a column down from the chin (neck and chest). */
function isCore(u: number, v: number, s: number, c: number): boolean {
  const { across, down } = body(u, v, s, c);
  return inFace(u, v) || (down > SHOULDER_START - CHIN && Math.abs(across) < 0.22);
}

/**
 * Beside the head and neck below the eyes, down to the shoulders (face widths from the chin along
 * the photo's axes), where of the subject only their hair can be: aside from the neck by more than
 * NECK_HALF, from the eyes by more than BESIDE_FACE.
 */
const NECK_HALF = 0.3;
const BESIDE_FACE = 0.45;
const SHOULDERS_DOWN = 0.5;
function besideHead(u: number, v: number, s: number, c: number): boolean {
  const { across, down } = body(u, v, s, c);
  return v > 0 && down < SHOULDERS_DOWN && Math.abs(across) > NECK_HALF && Math.abs(u) > BESIDE_FACE;
}

/** A binary min-heap of cell indices keyed by a distance array. */
class Heap {
  private items: Int32Array;
  private size = 0;
  constructor(
    capacity: number,
    private readonly key: Float32Array,
  ) {
    this.items = new Int32Array(capacity);
  }
  get length(): number {
    return this.size;
  }
  push(i: number): void {
    if (this.size === this.items.length) {
      const grown = new Int32Array(this.items.length * 2);
      grown.set(this.items);
      this.items = grown;
    }
    const a = this.items,
      k = this.key;
    let c = this.size++;
    while (c > 0) {
      const p = (c - 1) >> 1;
      if (k[a[p]] <= k[i]) break;
      a[c] = a[p];
      c = p;
    }
    a[c] = i;
  }
  pop(): number {
    const a = this.items,
      k = this.key;
    const top = a[0];
    const last = a[--this.size];
    let c = 0;
    for (;;) {
      let m = 2 * c + 1;
      if (m >= this.size) break;
      if (m + 1 < this.size && k[a[m + 1]] < k[a[m]]) m++;
      if (k[a[m]] >= k[last]) break;
      a[c] = a[m];
      c = m;
    }
    a[c] = last;
    return top;
  }
}

/**
 * Dijkstra from the cells already in `heap` over the cells of the matte (at least LOW), 4-connected:
 * a step into cell j costs STEP, plus the colour change between the two cells ((d / SIGMA)^2, at most
 * EDGE_CAP), plus THIN for a cell of low matte, plus `extra[j]` when given.
 */
function grow(
  dist: Float32Array,
  heap: Heap,
  post: Float32Array,
  colour: Float32Array,
  w: number,
  extra?: Float32Array,
): void {
  const n = dist.length;
  const done = new Uint8Array(n);
  const k2 = 1 / (SIGMA * SIGMA);
  while (heap.length) {
    const i = heap.pop();
    if (done[i]) continue;
    done[i] = 1;
    const x = i % w,
      di = dist[i];
    const r = colour[i * 3],
      g = colour[i * 3 + 1],
      b = colour[i * 3 + 2];
    for (let k = 0; k < 4; k++) {
      const j = k === 0 ? (x > 0 ? i - 1 : -1) : k === 1 ? (x < w - 1 ? i + 1 : -1) : k === 2 ? i - w : i + w;
      if (j < 0 || j >= n || done[j] || post[j] < LOW) continue;
      const dr = r - colour[j * 3],
        dg = g - colour[j * 3 + 1],
        db = b - colour[j * 3 + 2];
      const c =
        STEP +
        Math.min(EDGE_CAP, (dr * dr + dg * dg + db * db) * k2) +
        (post[j] < HALF ? THIN * (1 - post[j] / HALF) : 0) +
        (extra ? extra[j] : 0);
      if (di + c < dist[j]) {
        dist[j] = di + c;
        heap.push(j);
      }
    }
  }
}

/** The grid halved (2x2 cell means): the labelling needs no finer cells, and costs a quarter. */
function halve(
  post: Float32Array,
  colour: Float32Array,
  gw: number,
  gh: number,
  inPhoto?: Float32Array,
): { post: Float32Array; colour: Float32Array; inPhoto?: Float32Array; w: number; h: number } {
  const w = Math.ceil(gw / 2),
    h = Math.ceil(gh / 2);
  const p = new Float32Array(w * h),
    c = new Float32Array(w * h * 3),
    k = new Float32Array(w * h),
    share = inPhoto ? new Float32Array(w * h) : undefined;
  for (let y = 0; y < gh; y++) {
    for (let x = 0; x < gw; x++) {
      const i = y * gw + x,
        o = (y >> 1) * w + (x >> 1);
      p[o] += post[i];
      c[o * 3] += colour[i * 3];
      c[o * 3 + 1] += colour[i * 3 + 1];
      c[o * 3 + 2] += colour[i * 3 + 2];
      k[o]++;
      if (share && inPhoto) share[o] += inPhoto[i];
    }
  }
  for (let o = 0; o < w * h; o++) {
    const q = 1 / k[o];
    p[o] *= q;
    c[o * 3] *= q;
    c[o * 3 + 1] *= q;
    c[o * 3 + 2] *= q;
    if (share) share[o] *= q;
  }
  return { post: p, colour: c, inPhoto: share, w, h };
}

/**
 * Keeps the subject only in `post` (the matte on a grid of `cell`-pixel cells, 0..1, changed in
 * place), given each cell's mean colour (`colour`, RGB 0..255, three a cell), the subject's face,
 * the other faces found in the photo (image pixels), and how much of each cell is the photo
 * (`inPhoto`, 0..1; all of it when not given).
 */
export function keepSubject(
  post: Float32Array,
  colour: Float32Array,
  gw: number,
  gh: number,
  cell: number,
  face: FaceAt,
  others: FaceAt[] = [],
  inPhoto?: Float32Array,
  bones: Bone[] = [],
  mineAt?: (x: number, y: number) => number,
): void {
  const half = halve(post, colour, gw, gh, inPhoto);
  const { w, h } = half,
    n = w * h,
    size = cell * 2;
  const p = half.post;
  // How far beyond the envelope each cell is (0 inside, 1 at RAMP face widths beyond; the tax a step
  // into it pays), and the subject's core.
  const tax = new Float32Array(n),
    inside = new Float32Array(n);
  const beyond = new Uint8Array(n),
    aside = new Uint8Array(n),
    own = new Uint8Array(n),
    head = new Uint8Array(n),
    beside = new Uint8Array(n);
  const dS = new Float32Array(n).fill(Infinity);
  const heapS = new Heap(4096, dS);
  const sin = Math.sin(face.tilt ?? 0),
    cos = Math.cos(face.tilt ?? 0);
  for (let y = 0; y < h; y++) {
    const v = ((y + 0.5) * size - face.y) / face.width;
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const u = ((x + 0.5) * size - face.x) / face.width;
      const d = beyondBy(u, v, sin, cos);
      tax[i] = TAX * Math.min(1, Math.max(0, d / RAMP));
      // The others pay as much to come inside it (the subject's hair, a raised arm, the body).
      inside[i] = TAX * Math.min(1, Math.max(0, -d / RAMP));
      beyond[i] = d > 0 ? 1 : 0;
      const b = body(u, v, sin, cos);
      aside[i] = Math.abs(b.across) > SIDE && u * sin + v * cos > 0 ? 1 : 0;
      // The subject's own colours: the core, and the hair above the eyes within the envelope.
      own[i] = p[i] >= HALF && (v < 0 ? d <= 0 : isCore(u, v, sin, cos)) ? 1 : 0;
      // The head's own colours: the face and the hair above the eyes.
      head[i] = own[i] && (v < 0 || inFace(u, v)) ? 1 : 0;
      beside[i] = besideHead(u, v, sin, cos) ? 1 : 0;
      if (p[i] >= HALF && isCore(u, v, sin, cos)) {
        dS[i] = 0;
        heapS.push(i);
      }
    }
  }
  // Someone else's ground: where BlazePose does not see the subject's body (models/body-mask.ts)
  // and MoveNet sees someone else near. Either alone is not enough: BlazePose misses a raised arm
  // (p3-curls' hand in her hair), and its edge runs inside the subject's hair; MoveNet's bones are
  // thin lines through people. 0..1, how surely.
  const theirs = new Float32Array(n);
  const mine = new Float32Array(n);
  if (mineAt) for (let i = 0; i < n; i++) mine[i] = mineAt(((i % w) + 0.5) * size, (((i / w) | 0) + 0.5) * size);
  if (mineAt && bones.length) {
    // The mask's edge runs a little inside the subject's own hair (a coarse mask): widened first.
    const widened = mine.slice();
    widen(widened, w, h, Math.round((MINE_MARGIN * face.width) / size));
    alongBones(bones, THEIR_REACH * face.width, w, h, size, (i) => {
      theirs[i] = widened[i] < NOT_MINE ? 1 - widened[i] / NOT_MINE : 0;
    });
  }
  // 1. The subject's reach: colour edges and the way beyond the envelope cost.
  const density = ownDensity(half.colour, own, n);
  // The same reach where a colour foreign to the subject costs more, for the contest with the others
  // only (the envelope's fall-off and the strangers keep dS): where her hair shades into a
  // neighbour's top with no sharp edge (a soft photo), the top's colour goes to the others.
  const dF = new Float32Array(n);
  const heapF = new Heap(4096, dF);
  const foreignTax = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    dF[i] = dS[i];
    if (dS[i] === 0) heapF.push(i);
    foreignTax[i] =
      tax[i] + (density[i] < FOREIGN ? FOREIGN_STEP * (1 - density[i] / FOREIGN) : 0) + BODY_STEP * theirs[i];
  }
  grow(dS, heapS, p, half.colour, w, tax);
  grow(dF, heapF, p, half.colour, w, foreignTax);
  // Beside the head and neck a colour the head does not have (a neighbour's near-black hair beside a
  // blonde's neck; her own dark top is in the core) is no more the subject's than the others': they
  // pay nothing to come inside the envelope there, and the border falls on the colour edge.
  const headDensity = ownDensity(half.colour, head, n);
  for (let i = 0; i < n; i++) if ((beside[i] && headDensity[i] < FOREIGN) || theirs[i] > 0) inside[i] = 0;
  // 2. The others' reach, from the other faces and from whoever comes into the frame from a side or
  // the top beyond the envelope (the mask beyond it, joined to the frame's edge there).
  const dO = new Float32Array(n).fill(Infinity);
  const heapO = new Heap(4096, dO);
  const entering = new Uint8Array(n);
  const stack = new Int32Array(n);
  let top = 0;
  // Above the eyes (along the photo's vertical): whoever is beyond the envelope. Below them the
  // subject's own arm or shoulder may run out of the photo, and in a levelled frame the hair of a
  // tilted head falls towards an upper corner: there only what lies aside from the body's axis and
  // has colours the subject's core does not.
  const above = (i: number) => {
    const x = i % w,
      y = (i / w) | 0;
    return (((x + 0.5) * size - face.x) * sin + ((y + 0.5) * size - face.y) * cos) / face.width < 0;
  };
  const stranger = (i: number, most = FOREIGN) => !above(i) && aside[i] && density[i] < most;
  // At the edge, whoever is beyond the envelope above the eyes or a stranger below them; from there
  // on, either (a neighbour's hair falling past the subject's shoulder).
  // A stranger's cells leave as they are, without growing: their colours are not the subject's, and
  // the subject's own long hair or top beside them may be as dark as a neighbour's.
  const enter = (i: number, edge = false) => {
    if (entering[i] || p[i] < HALF || dS[i] <= SEED) return;
    if (edge ? (above(i) ? beyond[i] : stranger(i)) : beyond[i] || stranger(i, STRAY)) {
      if (!beyond[i] && dS[i] <= STRANGER_SEED) return;
      entering[i] = beyond[i] ? 1 : 2;
      stack[top++] = i;
    }
  };
  // From the photo's edge: the frame's, or where the frame reaches past the photo.
  const inPhotoAt = (i: number) => !half.inPhoto || half.inPhoto[i] >= HALF;
  for (let i = 0; i < n; i++) {
    const x = i % w;
    if (
      x === 0 ||
      x === w - 1 ||
      i < w ||
      i >= n - w ||
      !inPhotoAt(i - 1) ||
      !inPhotoAt(i + 1) ||
      !inPhotoAt(i - w) ||
      !inPhotoAt(i + w)
    )
      enter(i, true);
  }
  while (top) {
    const i = stack[--top];
    const x = i % w;
    if (x > 0) enter(i - 1);
    if (x < w - 1) enter(i + 1);
    if (i >= w) enter(i - w);
    if (i + w < n) enter(i + w);
  }
  // Another face, and a column below it (their neck and chest), where the subject's own core is not.
  for (const o of others) {
    const x0 = Math.max(0, Math.floor((o.x - 0.4 * o.width) / size)),
      x1 = Math.min(w - 1, Math.ceil((o.x + 0.4 * o.width) / size));
    const y0 = Math.max(0, Math.floor((o.y - 0.4 * o.width) / size)),
      y1 = Math.min(h - 1, Math.ceil((o.y + 1.6 * o.width) / size));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const dx = (x + 0.5) * size - o.x,
          dy = (y + 0.5) * size - o.y;
        if (
          dx * dx + dy * dy <= (0.4 * o.width) ** 2 ||
          (dy > 0 && dy < 1.6 * o.width && Math.abs(dx) < 0.25 * o.width)
        )
          entering[y * w + x] = 1;
      }
    }
  }
  // Another person's skeleton (their head, shoulders, arms, a knee), where the subject's core is not.
  alongBones(bones, Math.max(size / 2, BONE * face.width), w, h, size, (i) => {
    entering[i] = 1;
  });
  // Where BlazePose is sure of her own body, inside the envelope and in her head's own colours (her
  // long dark hair falling behind her shoulder, beside a neighbour in black), the others pay more to
  // come in; not near their own skeleton (next).
  for (let i = 0; i < n; i++)
    if (!beyond[i] && mine[i] > MINE_SURE && headDensity[i] >= FOREIGN)
      inside[i] += (MINE_STEP * (mine[i] - MINE_SURE)) / (1 - MINE_SURE);
  // Near someone else's skeleton the others grow as freely inside the envelope as outside it.
  alongBones(bones, OWN_GROUND * face.width, w, h, size, (i) => {
    inside[i] = 0;
  });
  // Surely someone else's ground, across an edge from the subject: someone else.
  for (let i = 0; i < n; i++) if (p[i] >= HALF && dS[i] > SEED && theirs[i] >= THEIRS_SEED) entering[i] = 1;
  for (let i = 0; i < n; i++) {
    if (p[i] >= HALF && dS[i] > 0 && (entering[i] === 1 || dS[i] === Infinity)) {
      dO[i] = 0;
      heapO.push(i);
    }
  }
  grow(dO, heapO, p, half.colour, w, inside);
  // 3. The subject's share of each cell: nothing where the others are nearer, fading out beyond the
  // envelope between REACH and FAR; the border softened, and carried back to the full grid.
  // A stranger's reach: their colour runs on past where they entered (a friend's top along the
  // edge), and a cell of a colour foreign to the subject that a stranger reaches first leaves too,
  // where the subject reaches it only across edges (their own foreign top beside their chest stays).
  const dX = new Float32Array(n).fill(Infinity);
  const heapX = new Heap(4096, dX);
  for (let i = 0; i < n; i++) {
    if (entering[i] === 2) {
      dX[i] = 0;
      heapX.push(i);
    }
  }
  grow(dX, heapX, p, half.colour, w);
  const gone = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (p[i] < LOW) continue;
    const d = dS[i];
    gone[i] =
      dO[i] < dF[i] || entering[i] === 2 || (dX[i] < d && density[i] < FOREIGN && d > STRANGER_SEED)
        ? 1
        : !beyond[i] || d <= REACH
          ? 0
          : d >= FAR
            ? 1
            : smooth((d - REACH) / (FAR - REACH));
  }
  dropRemnants(gone, p, entering, dS, w, n);
  const soft = new Float32Array(n);
  boxMean(gone, soft, w, h, BLUR, new Float64Array(w));
  for (let y = 0; y < gh; y++) {
    for (let x = 0; x < gw; x++) {
      const o = (y >> 1) * w + (x >> 1);
      post[y * gw + x] *= 1 - Math.max(gone[o], soft[o]);
    }
  }
  // 4. Pockets inside the subject.
  fillPockets(post, gw, gh, Math.round((HOLE * face.width * face.width) / (cell * cell)));
}

const smooth = (t: number) => t * t * (3 - 2 * t);

/** In place: each cell takes the largest value within r cells along its row, then its column (a square's maximum). */
function widen(v: Float32Array, w: number, h: number, r: number): void {
  if (r < 1) return;
  const line = new Float32Array(Math.max(w, h));
  const pass = (lines: number, length: number, at: (k: number, i: number) => number) => {
    for (let k = 0; k < lines; k++) {
      for (let i = 0; i < length; i++) line[i] = v[at(k, i)];
      for (let i = 0; i < length; i++) {
        let most = 0;
        for (let j = Math.max(0, i - r); j <= Math.min(length - 1, i + r); j++) most = Math.max(most, line[j]);
        v[at(k, i)] = most;
      }
    }
  };
  pass(h, w, (y, x) => y * w + x);
  pass(w, h, (x, y) => y * w + x);
}

/** Calls `visit` with each cell (of `size` px, w x h) whose centre lies within `r` px of a bone. */
function alongBones(bones: Bone[], r: number, w: number, h: number, size: number, visit: (i: number) => void): void {
  for (const [a, b] of bones) {
    const steps = Math.max(1, Math.ceil(Math.hypot(b.x - a.x, b.y - a.y) / (size / 2)));
    for (let s = 0; s <= steps; s++) {
      const cx = a.x + ((b.x - a.x) * s) / steps,
        cy = a.y + ((b.y - a.y) * s) / steps;
      for (let y = Math.max(0, Math.floor((cy - r) / size)); y <= Math.min(h - 1, Math.floor((cy + r) / size)); y++) {
        for (let x = Math.max(0, Math.floor((cx - r) / size)); x <= Math.min(w - 1, Math.floor((cx + r) / size)); x++) {
          if (((x + 0.5) * size - cx) ** 2 + ((y + 0.5) * size - cy) ** 2 <= r * r) visit(y * w + x);
        }
      }
    }
  }
}

/**
 * What is left of a stranger once their foreign cells are gone (a neckline's trim, a strap): the
 * pieces of the kept matte (at least HALF, not gone) that the subject's core does not reach and
 * that touch a removed stranger's cell leave too. `gone` is changed in place.
 */
function dropRemnants(
  gone: Float32Array,
  p: Float32Array,
  entering: Uint8Array,
  dS: Float32Array,
  w: number,
  n: number,
): void {
  const kept = (i: number) => p[i] >= HALF && gone[i] < HALF;
  const seen = new Uint8Array(n);
  const stack = new Int32Array(n);
  const members = new Int32Array(n);
  // The subject's piece: everything kept that joins their core.
  let top = 0;
  for (let i = 0; i < n; i++) {
    if (dS[i] === 0 && kept(i)) {
      seen[i] = 1;
      stack[top++] = i;
    }
  }
  const visit = (onEach: (i: number) => void) => {
    while (top) {
      const i = stack[--top];
      onEach(i);
      const x = i % w;
      for (const j of [x > 0 ? i - 1 : -1, x < w - 1 ? i + 1 : -1, i - w, i + w]) {
        if (j < 0 || j >= n || seen[j] || !kept(j)) continue;
        seen[j] = 1;
        stack[top++] = j;
      }
    }
  };
  visit(() => {});
  for (let s = 0; s < n; s++) {
    if (seen[s] || !kept(s)) continue;
    let count = 0,
      stranger = false;
    seen[s] = 1;
    stack[top++] = s;
    visit((i) => {
      members[count++] = i;
      const x = i % w;
      if (
        (x > 0 && entering[i - 1] === 2) ||
        (x < w - 1 && entering[i + 1] === 2) ||
        (i >= w && entering[i - w] === 2) ||
        (i + w < n && entering[i + w] === 2)
      )
        stranger = true;
    });
    if (stranger) for (let k = 0; k < count; k++) gone[members[k]] = 1;
  }
}

/**
 * Cells whose colour is rare on the subject (`own`: the core and the hair above the eyes): a histogram of
 * CORE_LEVELS a channel, blurred one bin each way, against a uniform spread over its bins.
 */
function ownDensity(colour: Float32Array, own: Uint8Array, n: number): Float32Array {
  const L = CORE_LEVELS,
    bins = L * L * L;
  const bin = (i: number) =>
    ((((colour[i * 3] * L) >> 8) * L + ((colour[i * 3 + 1] * L) >> 8)) * L + ((colour[i * 3 + 2] * L) >> 8)) | 0;
  let hist = new Float32Array(bins),
    count = 0;
  for (let i = 0; i < n; i++) {
    if (!own[i]) continue;
    hist[bin(i)]++;
    count++;
  }
  for (const stride of [1, L, L * L]) {
    const next = new Float32Array(bins);
    for (let b = 0; b < bins; b++) {
      const c = Math.floor(b / stride) % L;
      next[b] = 2 * hist[b] + (c > 0 ? hist[b - stride] : hist[b]) + (c < L - 1 ? hist[b + stride] : hist[b]);
    }
    hist = next;
  }
  const out = new Float32Array(n);
  // The blur multiplied the counts by 64.
  const k = count ? bins / (64 * count) : 0;
  for (let i = 0; i < n; i++) out[i] = hist[bin(i)] * k;
  return out;
}

/**
 * Fills the connected pockets of matte below HALF that do not touch the grid's edge and hold at
 * most `most` cells: whatever encloses them is the subject (step 3 left nobody else), so a small
 * pocket is a hole in them. The guided filter settles the filled cells' edges.
 */
function fillPockets(post: Float32Array, w: number, h: number, most: number): void {
  const n = w * h;
  const seen = new Uint8Array(n);
  const stack = new Int32Array(n);
  const members = new Int32Array(n);
  for (let s = 0; s < n; s++) {
    if (seen[s] || post[s] >= HALF) continue;
    let top = 0,
      count = 0,
      edge = false;
    stack[top++] = s;
    seen[s] = 1;
    while (top) {
      const i = stack[--top];
      members[count++] = i;
      const x = i % w;
      if (x === 0 || x === w - 1 || i < w || i >= n - w) edge = true;
      if (x > 0 && !seen[i - 1] && post[i - 1] < HALF) {
        seen[i - 1] = 1;
        stack[top++] = i - 1;
      }
      if (x < w - 1 && !seen[i + 1] && post[i + 1] < HALF) {
        seen[i + 1] = 1;
        stack[top++] = i + 1;
      }
      if (i >= w && !seen[i - w] && post[i - w] < HALF) {
        seen[i - w] = 1;
        stack[top++] = i - w;
      }
      if (i + w < n && !seen[i + w] && post[i + w] < HALF) {
        seen[i + w] = 1;
        stack[top++] = i + w;
      }
    }
    if (!edge && count <= most) for (let k = 0; k < count; k++) post[members[k]] = 1;
  }
}

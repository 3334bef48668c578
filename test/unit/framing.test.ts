import { describe, expect, it } from 'vitest';
import {
  chooseFrame,
  EDGE_FADE,
  edgeContacts,
  EYE_LINE,
  fadeAtEdges,
  EYE_LINE_RANGE,
  FRAME_FACE_WIDTHS,
  headCutOff,
  MIN_FACE_WIDTHS,
  sourceBounds,
  toOutput,
  toSource,
  warp,
  type Frame,
} from '../../worker/framing';

/** A level face 100 px wide, eyes 40 px apart around (x, y). */
const face = (x: number, y: number, tilt = 0) => ({
  box: { width: 100 },
  eyes: { right: { x: x - 20, y: y - tilt }, left: { x: x + 20, y: y + tilt } },
});

describe('choosing the frame', () => {
  it('keeps the ideal head-and-shoulders frame when the photo holds it', () => {
    const f = chooseFrame(face(500, 400), { width: 1000, height: 1200 }, 1024);
    expect(f.faceWidths).toBeCloseTo(FRAME_FACE_WIDTHS);
    expect(f.eyeAt).toEqual({ x: 0.5, y: EYE_LINE });
    expect(f.beyond).toEqual([]);
  });

  it('crops tighter, eyes within the allowed line, when the photo ends below the chin', () => {
    // Photo ends 120 px (1.2 face widths) below the eyes: no room for shoulders.
    const f = chooseFrame(face(300, 400), { width: 600, height: 520 }, 1024);
    expect(f.faceWidths).toBeLessThan(FRAME_FACE_WIDTHS);
    expect(f.faceWidths).toBeGreaterThanOrEqual(MIN_FACE_WIDTHS - 1e-9);
    expect(f.eyeAt.y).toBeGreaterThanOrEqual(EYE_LINE_RANGE[0] - 1e-9);
    expect(f.eyeAt.y).toBeLessThanOrEqual(EYE_LINE_RANGE[1] + 1e-9);
  });

  it('lets the frame reach above the photo only where the hair is not (backdrop above the head)', () => {
    // Hair top (0.9 face widths above the eyes) is 20 px inside the photo's top edge.
    const f = chooseFrame(face(500, 110), { width: 1000, height: 1200 }, 1024);
    expect(f.faceWidths).toBeCloseTo(FRAME_FACE_WIDTHS);
    expect(f.beyond).toEqual(['top']);
  });

  it('maps source and output both ways, tilted faces included', () => {
    const f = chooseFrame(face(500, 500, 6), { width: 1000, height: 1200 }, 1024);
    const p = { x: 431.5, y: 612.25 };
    const back = toSource(f, toOutput(f, p));
    expect(back.x).toBeCloseTo(p.x, 6);
    expect(back.y).toBeCloseTo(p.y, 6);
    const b = sourceBounds(f, 0);
    expect(b.left).toBeGreaterThanOrEqual(0);
    expect(b.right).toBeLessThanOrEqual(1000);
  });
});

/** Warp's coverage alone (it needs no pixels). */
const coverageOf = (f: Frame) => warp({ data: new Uint8Array(3), width: 1, height: 1 }, { x: 0, y: 0 }, 1, f).coverage;

describe('where the person runs off the photo', () => {
  // Hair (0.9 face widths above the eyes) reaches 10 px past the top: the ideal frame reaches above the photo.
  const hairCut = face(500, 80);
  const photo = { width: 1000, height: 1200 };
  const f = chooseFrame(hairCut, photo, 1024);
  /** The photo's top edge, output px down the (level) frame: the backdrop above it is this deep. */
  const top = toOutput(f, { x: 500, y: 0 }).y;
  /** A matte that is the person wherever the photo is, from `from` output px below its top edge on. */
  const personFrom = (from: number) => {
    const coverage = coverageOf(f);
    const alpha = new Uint8Array(f.width * f.height);
    for (let i = 0; i < alpha.length; i++) if (coverage[i] && Math.floor(i / f.width) >= top + from) alpha[i] = 255;
    return alpha;
  };
  const fadeEnd = (alpha: Uint8Array, x: number) => {
    let y = Math.ceil(top);
    while (alpha[y * f.width + x] < 255) y++;
    return y - top;
  };

  it('fades the person who reaches a cutting edge over twice the backdrop beyond it, at most EDGE_FADE', () => {
    expect(f.beyond).toEqual(['top']);
    expect(top).toBeGreaterThan(10);
    const alpha = personFrom(0);
    fadeAtEdges(f, alpha);
    expect(fadeEnd(alpha, 512)).toBeGreaterThan(1.9 * top);
    expect(fadeEnd(alpha, 512)).toBeLessThanOrEqual(Math.min(2 * top, EDGE_FADE * f.height) + 2);
    expect(alpha[Math.ceil(top) * f.width + 512]).toBeLessThan(20);
  });

  it('leaves hair that comes near a cutting edge without reaching it unfaded', () => {
    const alpha = personFrom(8);
    fadeAtEdges(f, alpha);
    expect(fadeEnd(alpha, 512)).toBeLessThanOrEqual(9);
  });

  it('finds the person at a cutting edge and chooses a frame that does not show them cut', () => {
    // The person over the hair's width only (±0.6 face widths around the eyes), reaching the top edge.
    const alpha = personFrom(0);
    const hair = { left: toOutput(f, { x: 440, y: 0 }).x, right: toOutput(f, { x: 560, y: 0 }).x };
    for (let i = 0; i < alpha.length; i++) {
      const x = i % f.width;
      if (x < hair.left || x > hair.right) alpha[i] = 0;
    }
    const contacts = edgeContacts(f, alpha);
    expect(contacts.length).toBeGreaterThan(0);
    for (const c of contacts) {
      expect(c.y).toBeLessThan(0);
      expect(c.x).toBeGreaterThan(435);
      expect(c.x).toBeLessThan(565);
    }
    const again = chooseFrame(hairCut, photo, 1024, { contacts });
    for (const c of contacts) expect(toOutput(again, c).y).toBeLessThanOrEqual(0);
    // Hair that stops short of the edge is no contact.
    expect(edgeContacts(f, personFrom(8))).toEqual([]);
  });
});

describe('headCutOff: a cut head that no allowed frame hides', () => {
  it('says nothing for a whole head, or a little hair cut that a tighter frame hides', () => {
    expect(headCutOff(face(500, 400), { width: 1000, height: 1200 })).toEqual([]);
    // The photo's top 10 px below the estimated hair top: framed around.
    expect(headCutOff(face(500, 80), { width: 1000, height: 1200 })).toEqual([]);
  });

  it('names the top when the photo cuts through the head', () => {
    expect(headCutOff(face(500, 45), { width: 1000, height: 1200 })).toEqual(['top']);
  });

  it('names the side that cuts the head', () => {
    expect(headCutOff(face(45, 400), { width: 1000, height: 1200 })).toEqual(['left']);
    expect(headCutOff(face(955, 400), { width: 1000, height: 1200 })).toEqual(['right']);
  });
});

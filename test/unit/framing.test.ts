import { describe, expect, it } from 'vitest';
import {
  chooseFrame,
  EDGE_FADE,
  edgeContacts,
  EYE_LINE,
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

  it('fades the person towards a cutting edge over twice the backdrop beyond it, at most EDGE_FADE', () => {
    const f = chooseFrame(hairCut, photo, 1024);
    expect(f.beyond).toEqual(['top']);
    const coverage = coverageOf(f);
    const top = toOutput(f, { x: 500, y: 0 }).y; // the photo's top edge, output px down the frame
    const fadeEnd = (x: number) => {
      let y = Math.ceil(top);
      while (coverage[y * f.width + x] < 255) y++;
      return y - top;
    };
    // The frame is level: the backdrop above the photo is `top` px high, so the fade is 2 * top long.
    expect(fadeEnd(512)).toBeGreaterThan(1.9 * top);
    expect(fadeEnd(512)).toBeLessThanOrEqual(Math.min(2 * top, EDGE_FADE * f.height) + 2);
    // Nothing of the photo above its edge.
    expect(coverage[Math.floor(top - 1) * f.width + 512]).toBe(0);
  });

  it('finds the person at a cutting edge and chooses a frame that does not show them cut', () => {
    const f = chooseFrame(hairCut, photo, 1024);
    // A matte that is the person over the hair's width at the top: from the eyes up, ±0.6 face widths.
    const alpha = new Uint8Array(f.width * f.height);
    const hair = { left: toOutput(f, { x: 440, y: 0 }).x, right: toOutput(f, { x: 560, y: 0 }).x };
    const coverage = coverageOf(f);
    for (let y = 0; y < f.height / 2; y++)
      for (let x = Math.ceil(hair.left); x < hair.right; x++) alpha[y * f.width + x] = coverage[y * f.width + x];
    const contacts = edgeContacts(f, alpha, coverage);
    expect(contacts.length).toBeGreaterThan(0);
    for (const c of contacts) {
      expect(c.y).toBeLessThan(0);
      expect(c.x).toBeGreaterThan(435);
      expect(c.x).toBeLessThan(565);
    }
    const again = chooseFrame(hairCut, photo, 1024, { contacts });
    for (const c of contacts) expect(toOutput(again, c).y).toBeLessThanOrEqual(0);
    // The backdrop beside the hair does not matter: no person there, no contact.
    expect(edgeContacts(f, new Uint8Array(alpha.length), coverage)).toEqual([]);
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

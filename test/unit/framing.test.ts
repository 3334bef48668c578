import { describe, expect, it } from 'vitest';
import {
  chooseFrame,
  EYE_LINE,
  EYE_LINE_RANGE,
  FRAME_FACE_WIDTHS,
  headCutOff,
  MIN_FACE_WIDTHS,
  sourceBounds,
  toOutput,
  toSource,
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

import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The labelled set of real photographs (test/fixtures/real/README.md): crops of single people from
 * ordinary group photos, each with the verdict a photographer gave it by hand.
 */
export interface RealCrop {
  file: string;
  /** The photo it was cut from and the rectangle [left, top, width, height] in it. */
  source: string;
  rect: [number, number, number, number];
  /** Width and height of the crop as stored. */
  size: [number, number];
  /** Degrees clockwise the crop was turned after cutting, with no orientation tag. */
  turned?: 90 | 180 | 270;
  usable: boolean;
  /** Every reason that stops it, the main one first; empty when usable. */
  blocking: string[];
  /** What a photographer would mention on a usable photo. */
  advice: string[];
  /** face_cut_off / head_cut_off: the edge that cuts. */
  side?: 'top' | 'bottom' | 'left' | 'right';
  note: string;
  /** Why a label was changed after it was first given, when it was. */
  changed?: string;
}

const DIR = path.resolve(import.meta.dirname, '../fixtures/real');

export const REAL_SET: RealCrop[] = (
  JSON.parse(readFileSync(path.join(DIR, 'labels.json'), 'utf8')) as { crops: RealCrop[] }
).crops;

/** The crop's JPEG bytes, as a person would upload them. */
export function readCrop(crop: RealCrop): Promise<Buffer> {
  return readFile(path.join(DIR, crop.file));
}

/** The label's main reason, or 'usable'. */
export const expectedReason = (crop: RealCrop): string => crop.blocking[0] ?? 'usable';

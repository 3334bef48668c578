/**
 * What can be ordered. Packages cap the number of styles and headshots; styles are declarative
 * presets that the renderer reads (backdrop, grade) and the API lists.
 */
/** The framing rule: eyes 40 % down the frame; a 4:5 master, from which a 1:1 crop keeps that line. */
export const EYE_LINE = 0.4;
export const FRAME_ASPECT = 1.25;
export const ASPECTS = ['4:5', '1:1'] as const;

/** The 1:1 square inside a 4:5 master with the eyes still 40 % down. */
export function squareCrop(
  width: number,
  height: number,
): { left: number; top: number; width: number; height: number } {
  return { left: 0, top: Math.round(EYE_LINE * (height - width)), width, height: width };
}

export interface Package {
  id: string;
  name: string;
  maxStyles: number;
  /** Headshots per chosen style, each from a different usable photo where there are enough. */
  photosPerStyle: number;
  priceCents: number;
  currency: 'EUR';
}

export const PACKAGES: readonly Package[] = [
  { id: 'starter', name: 'Starter', maxStyles: 1, photosPerStyle: 1, priceCents: 1900, currency: 'EUR' },
  { id: 'professional', name: 'Professional', maxStyles: 4, photosPerStyle: 2, priceCents: 3900, currency: 'EUR' },
  { id: 'executive', name: 'Executive', maxStyles: 10, photosPerStyle: 3, priceCents: 7900, currency: 'EUR' },
];

export type Backdrop =
  | { kind: 'solid'; rgb: [number, number, number] }
  | { kind: 'gradient'; top: [number, number, number]; bottom: [number, number, number] }
  | { kind: 'bokeh'; top: [number, number, number]; bottom: [number, number, number] }
  | { kind: 'own-blur'; sigma: number };

export interface Style {
  id: string;
  name: string;
  description: string;
  backdrop: Backdrop;
  /** Colour grade: multipliers and offsets applied to the whole frame. */
  grade: { brightness: number; saturation: number; warmth: number; contrast: number };
  vignette: number;
  greyscale?: boolean;
}

export const STYLES: readonly Style[] = [
  {
    id: 'studio-grey',
    name: 'Studio grey',
    description: 'Neutral mid-grey studio backdrop, even light.',
    backdrop: { kind: 'solid', rgb: [128, 130, 134] },
    grade: { brightness: 1.03, saturation: 1.0, warmth: 0, contrast: 1.05 },
    vignette: 0.15,
  },
  {
    id: 'studio-white',
    name: 'Studio white',
    description: 'Bright white backdrop for websites and ID-style profiles.',
    backdrop: { kind: 'solid', rgb: [244, 244, 242] },
    grade: { brightness: 1.06, saturation: 0.98, warmth: 0, contrast: 1.0 },
    vignette: 0,
  },
  {
    id: 'navy-gradient',
    name: 'Navy gradient',
    description: 'Deep navy gradient, the classic corporate portrait.',
    backdrop: { kind: 'gradient', top: [38, 56, 92], bottom: [12, 20, 40] },
    grade: { brightness: 1.02, saturation: 1.02, warmth: 0.02, contrast: 1.08 },
    vignette: 0.2,
  },
  {
    id: 'warm-office',
    name: 'Warm office',
    description: 'Warm, softly blurred office light behind you.',
    backdrop: { kind: 'bokeh', top: [150, 122, 92], bottom: [86, 66, 50] },
    grade: { brightness: 1.04, saturation: 1.05, warmth: 0.06, contrast: 1.02 },
    vignette: 0.1,
  },
  {
    id: 'own-background-blur',
    name: 'Your background, blurred',
    description: 'Your own surroundings, blurred like a fast portrait lens.',
    backdrop: { kind: 'own-blur', sigma: 28 },
    grade: { brightness: 1.03, saturation: 1.03, warmth: 0.02, contrast: 1.04 },
    vignette: 0.1,
  },
  {
    id: 'charcoal',
    name: 'Charcoal',
    description: 'Dark charcoal backdrop with a gentle vignette.',
    backdrop: { kind: 'solid', rgb: [46, 47, 50] },
    grade: { brightness: 1.05, saturation: 0.97, warmth: 0, contrast: 1.1 },
    vignette: 0.25,
  },
  {
    id: 'sky-blue',
    name: 'Soft sky',
    description: 'Light blue-grey gradient, friendly and open.',
    backdrop: { kind: 'gradient', top: [190, 210, 230], bottom: [140, 165, 190] },
    grade: { brightness: 1.04, saturation: 1.0, warmth: -0.02, contrast: 1.02 },
    vignette: 0.05,
  },
  {
    id: 'monochrome',
    name: 'Monochrome',
    description: 'Black-and-white portrait on a grey gradient.',
    backdrop: { kind: 'gradient', top: [150, 150, 150], bottom: [70, 70, 70] },
    grade: { brightness: 1.02, saturation: 0, warmth: 0, contrast: 1.12 },
    vignette: 0.2,
    greyscale: true,
  },
];

export function findPackage(id: string): Package | undefined {
  return PACKAGES.find((p) => p.id === id);
}

export function findStyle(id: string): Style | undefined {
  return STYLES.find((s) => s.id === id);
}

/** A point in an image's pixels. */
export interface Point {
  x: number;
  y: number;
}

/** Packed RGB, 3 channels, row-major, already EXIF-rotated: what the models, framing and backdrops read and write. */
export interface RgbImage {
  data: Buffer | Uint8Array;
  width: number;
  height: number;
}

/** Throws, naming `who`, unless `image` is packed RGB of a positive integer size. */
export function checkRgbImage(image: RgbImage, who: string): void {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`${who}: invalid image size ${width}x${height}`);
  }
  if (data.length !== width * height * 3) {
    throw new Error(
      `${who}: expected packed RGB (${width}x${height}x3 = ${width * height * 3} bytes), got ${data.length} bytes`,
    );
  }
}

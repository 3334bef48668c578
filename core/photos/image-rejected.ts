/** An upload refused at the door or when it is prepared, with its stable error code. */
export class ImageRejected extends Error {
  constructor(
    readonly code: 'unsupported_type' | 'too_many_pixels' | 'corrupt_image',
    message: string,
  ) {
    super(message);
  }
}

/**
 * A file that passed the door check but does not decode: most often one that did not finish
 * saving or copying, so the sentence says what to do about it.
 */
export const damaged = () =>
  new ImageRejected(
    'corrupt_image',
    'The image is damaged or truncated and could not be decoded. Choose the photo again: a file that did not finish saving or copying ends early.',
  );

/** An upload refused at the door or when it is prepared, with its stable error code. */
export class ImageRejected extends Error {
  constructor(
    readonly code: 'unsupported_type' | 'too_many_pixels' | 'corrupt_image',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Decoded image type shared by the decoders (src/data/decode-node.ts, src/data/decode-browser.ts) and
 * the preprocessing (src/data/preprocess.ts), and the error both decoders throw.
 *
 * RgbImage: `data` is [height, width, 3] uint8, row-major, RGB interleaved (3 bytes per pixel), exactly
 * what PIL's `np.asarray(image.convert("RGB"))` holds.
 */
import { VembedError } from '../util/errors';

/** A file that is not an image, or is corrupt, truncated or too large; the message names the file. */
export class ImageDecodeError extends VembedError {
  override name = 'ImageDecodeError';
}

export interface RgbImage {
  width: number;
  height: number;
  /** [height, width, 3] uint8, RGB, row-major; length = width * height * 3. */
  data: Uint8Array;
}

/**
 * Decoded image type shared by the decoders (src/data/decode-node.ts, later a browser decoder) and the
 * preprocessing (src/data/preprocess.ts).
 *
 * RgbImage: `data` is [height, width, 3] uint8, row-major, RGB interleaved (3 bytes per pixel), exactly
 * what PIL's `np.asarray(image.convert("RGB"))` holds.
 */
export interface RgbImage {
  width: number;
  height: number;
  /** [height, width, 3] uint8, RGB, row-major; length = width * height * 3. */
  data: Uint8Array;
}

/**
 * Image decoding in Node with sharp (libvips: libjpeg-turbo/mozjpeg, libpng, libwebp), matching what
 * transformers' `load_image` gets from PIL: EXIF orientation applied (ImageOps.exif_transpose), then
 * convert("RGB"): grayscale is replicated to R=G=B, alpha is simply dropped (no compositing on a
 * background), embedded ICC profiles are ignored (PIL does not colour-manage either).
 *
 *   decodeImageFile(path)          -> RgbImage [H, W, 3] uint8
 *   decodeImageBytes(bytes, name)  -> RgbImage; `name` is used in error messages
 *
 * A file that is not an image, or is corrupt or truncated, throws an ImageDecodeError naming the file;
 * it never comes back as a partly black image. sharp's failOn is 'error': truncation and decode errors
 * abort, mere decoder warnings (e.g. "extraneous bytes before marker", which PIL also ignores) do not.
 * Animated inputs (GIF, WebP) give their first frame, as PIL does. An image of more than
 * MAX_IMAGE_PIXELS (./image-header.ts) is refused from its header, before decoding; sharp's own
 * limitInputPixels is set to the same value for formats whose header we do not read (TIFF).
 * Known differences from PIL: CMYK JPEGs (sharp converts through a CMYK profile, PIL with a naive
 * formula) and 16-bit grayscale PNGs (PIL clips the 16-bit values to 0..255, sharp scales them).
 */
import { readFile } from 'node:fs/promises';
import type Sharp from 'sharp';
import { ImageDecodeError, type RgbImage } from './image';
import { MAX_IMAGE_PIXELS, pixelLimitProblem, pixelLimitText } from './image-header';

/** sharp (libvips, ~1 s to load) is loaded on the first decode, so `vembed --help` starts without it. */
let sharpModule: Promise<typeof Sharp> | null = null;
const loadSharp = () => (sharpModule ??= import('sharp').then((m) => m.default));

export { ImageDecodeError };

/** Reads and decodes one image file (JPEG, PNG, WebP; also GIF, TIFF, AVIF as sharp supports them). */
export async function decodeImageFile(path: string): Promise<RgbImage> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new ImageDecodeError(`${path}: cannot read the file (${(e as Error).message})`);
  }
  return decodeImageBytes(bytes, path);
}

/** Decodes an encoded image held in memory; `name` (a file name or URL) is used in error messages. */
export async function decodeImageBytes(
  bytes: Uint8Array,
  name: string,
  maxPixels = MAX_IMAGE_PIXELS,
): Promise<RgbImage> {
  if (bytes.length === 0) throw new ImageDecodeError(`${name}: empty file, not an image`);
  const tooBig = pixelLimitProblem(name, bytes, maxPixels);
  if (tooBig) throw new ImageDecodeError(tooBig);
  const sharp = await loadSharp();
  const { data, info } = await sharp(bytes, {
    failOn: 'error',
    ignoreIcc: true,
    autoOrient: true,
    pages: 1,
    limitInputPixels: maxPixels,
  })
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true })
    .catch((e: unknown): never => {
      const msg = String((e as Error)?.message ?? e).split('\n')[0];
      if (/exceeds pixel limit/i.test(msg)) throw new ImageDecodeError(pixelLimitText(name, null, maxPixels));
      if (/unsupported image format/i.test(msg)) {
        throw new ImageDecodeError(`${name}: unsupported or unrecognized image format (not a JPEG, PNG or WebP file?)`);
      }
      throw new ImageDecodeError(`${name}: corrupt or truncated image file (${msg})`);
    });
  const { width, height, channels } = info;
  const n = width * height;
  if (data.length !== n * channels) {
    throw new ImageDecodeError(`${name}: decoder returned ${data.length} bytes for ${width}x${height}x${channels}`);
  }
  if (channels === 3) return { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  const rgb = new Uint8Array(n * 3);
  if (channels === 4) {
    for (let i = 0; i < n; i++) {
      rgb[3 * i] = data[4 * i];
      rgb[3 * i + 1] = data[4 * i + 1];
      rgb[3 * i + 2] = data[4 * i + 2];
    }
  } else if (channels === 1 || channels === 2) {
    for (let i = 0; i < n; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = data[channels * i];
  } else {
    throw new ImageDecodeError(`${name}: unsupported channel count ${channels}`);
  }
  return { width, height, data: rgb };
}

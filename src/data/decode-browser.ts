/**
 * Image decoding in the browser (a page or a Web Worker; no Node APIs), matching what
 * transformers' `load_image` gets from PIL, like the Node decoder (./decode-node.ts):
 *
 *   decodeImageBlob(blob, name)    -> RgbImage [H, W, 3] uint8 (a File is a Blob)
 *   decodeImageBytes(bytes, name)  -> RgbImage; `name` is used in error messages
 *
 * How: createImageBitmap(blob, {imageOrientation: 'from-image' (EXIF orientation applied, as
 * ImageOps.exif_transpose), premultiplyAlpha: 'none', colorSpaceConversion: 'none' (embedded ICC
 * profiles ignored, as PIL)}), drawn on an OffscreenCanvas 2D context and read with getImageData;
 * grayscale comes out R = G = B, alpha is dropped (no compositing), as convert("RGB").
 * A 2D canvas stores premultiplied colour, so where alpha < 255 its getImageData gives back
 * un-premultiplied values rounded through the premultiplication (and black under alpha 0); for
 * such images the pixels are read again through WebGL2 (a texture uploaded with
 * UNPACK_PREMULTIPLY_ALPHA false and read back with readPixels), which keeps the stored colour
 * exactly, as PIL does. Without WebGL2 (or beyond its texture size) the 2D result is kept.
 *
 * An image of more than MAX_IMAGE_PIXELS (./image-header.ts) is refused from its header before
 * createImageBitmap decodes it (which would take all of its pixels' memory).
 * Errors (an ImageDecodeError naming the file, never a partly black image): Chromium refuses
 * truncated and corrupt files outright ("The source image could not be decoded"); a file whose
 * first bytes are a known image signature is reported as "corrupt or truncated image file", any
 * other as "unsupported or unrecognized image format", with the Node decoder's wording.
 * Known differences from PIL: browsers' JPEG decoders may differ by a few uint8 steps (see
 * tests/e2e/platform.test.ts for the measured difference in Chromium); 16-bit PNGs are scaled to
 * 8 bits (PIL clips); animated images give their first frame.
 */
import { ImageDecodeError, type RgbImage } from './image';
import { MAX_IMAGE_PIXELS, pixelLimitProblem } from './image-header';

export { ImageDecodeError };

const BITMAP_OPTIONS: ImageBitmapOptions = {
  imageOrientation: 'from-image',
  premultiplyAlpha: 'none',
  colorSpaceConversion: 'none',
};

/** Decodes an encoded image (JPEG, PNG, WebP; also GIF, BMP, AVIF as the browser supports). */
export async function decodeImageBlob(blob: Blob, name: string, maxPixels = MAX_IMAGE_PIXELS): Promise<RgbImage> {
  if (blob.size === 0) throw new ImageDecodeError(`${name}: empty file, not an image`);
  // The header (JPEG markers may come after large EXIF/ICC segments: read up to 256 KiB).
  const tooBig = pixelLimitProblem(name, new Uint8Array(await blob.slice(0, 256 << 10).arrayBuffer()), maxPixels);
  if (tooBig) throw new ImageDecodeError(tooBig);
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(blob, BITMAP_OPTIONS);
  } catch (e) {
    const head = new Uint8Array(await blob.slice(0, 16).arrayBuffer());
    const why = String((e as Error)?.message ?? e);
    if (!knownImageSignature(head)) {
      throw new ImageDecodeError(`${name}: unsupported or unrecognized image format (not a JPEG, PNG or WebP file?)`);
    }
    throw new ImageDecodeError(`${name}: corrupt or truncated image file (${why})`);
  }
  try {
    const { width, height } = bmp;
    if (width === 0 || height === 0)
      throw new ImageDecodeError(`${name}: corrupt or truncated image file (decoded to ${width}x${height})`);
    let rgba: Uint8Array | Uint8ClampedArray = readPixels2d(bmp);
    if (!opaque(rgba)) rgba = readPixelsWebgl(bmp) ?? rgba;
    const n = width * height;
    if (rgba.length !== n * 4)
      throw new ImageDecodeError(`${name}: decoder returned ${rgba.length} bytes for ${width}x${height}x4`);
    const rgb = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      rgb[3 * i] = rgba[4 * i];
      rgb[3 * i + 1] = rgba[4 * i + 1];
      rgb[3 * i + 2] = rgba[4 * i + 2];
    }
    return { width, height, data: rgb };
  } finally {
    bmp.close();
  }
}

/** Decodes an encoded image held in memory; `name` (a file name or path) is used in error messages. */
export async function decodeImageBytes(
  bytes: Uint8Array,
  name: string,
  maxPixels = MAX_IMAGE_PIXELS,
): Promise<RgbImage> {
  return decodeImageBlob(new Blob([bytes as Uint8Array<ArrayBuffer>]), name, maxPixels);
}

/** JPEG, PNG, WebP, GIF, BMP, ICO, AVIF/HEIF (ISO-BMFF `ftyp`): formats a browser may decode. */
function knownImageSignature(h: Uint8Array): boolean {
  const ascii = (at: number, s: string) => [...s].every((c, i) => h[at + i] === c.charCodeAt(0));
  return (
    (h[0] === 0xff && h[1] === 0xd8) ||
    (h[0] === 0x89 && ascii(1, 'PNG')) ||
    (ascii(0, 'RIFF') && ascii(8, 'WEBP')) ||
    ascii(0, 'GIF8') ||
    ascii(0, 'BM') ||
    (h[0] === 0 && h[1] === 0 && h[2] === 1 && h[3] === 0) ||
    ascii(4, 'ftyp')
  );
}

function opaque(rgba: Uint8ClampedArray | Uint8Array): boolean {
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== 255) return false;
  return true;
}

function readPixels2d(bmp: ImageBitmap): Uint8ClampedArray {
  const canvas = new OffscreenCanvas(bmp.width, bmp.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('OffscreenCanvas 2D context unavailable');
  ctx.globalCompositeOperation = 'copy';
  ctx.drawImage(bmp, 0, 0);
  return ctx.getImageData(0, 0, bmp.width, bmp.height).data;
}

let gl: WebGL2RenderingContext | null | undefined;

/** The bitmap's stored RGBA through WebGL2 (no premultiplication), or null where that is not possible. */
function readPixelsWebgl(bmp: ImageBitmap): Uint8Array | null {
  if (gl === undefined || gl?.isContextLost()) {
    gl = new OffscreenCanvas(1, 1).getContext('webgl2', { premultipliedAlpha: false, antialias: false, depth: false });
  }
  if (!gl) return null;
  const max = gl.getParameter(gl.MAX_TEXTURE_SIZE) as number;
  if (bmp.width > max || bmp.height > max) return null;
  const tex = gl.createTexture();
  const fb = gl.createFramebuffer();
  try {
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, gl.RGBA, gl.UNSIGNED_BYTE, bmp);
    gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
    if (gl.checkFramebufferStatus(gl.FRAMEBUFFER) !== gl.FRAMEBUFFER_COMPLETE) return null;
    const px = new Uint8Array(bmp.width * bmp.height * 4);
    gl.pixelStorei(gl.PACK_ALIGNMENT, 1);
    gl.readPixels(0, 0, bmp.width, bmp.height, gl.RGBA, gl.UNSIGNED_BYTE, px);
    return gl.getError() === gl.NO_ERROR ? px : null;
  } finally {
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.deleteFramebuffer(fb);
    gl.deleteTexture(tex);
  }
}

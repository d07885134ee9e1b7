/**
 * Image dimensions from the file header, before anything is decoded (browser-safe, no Node APIs),
 * so that a decompression bomb (a 769 KB PNG that decodes to 16000 x 16000 pixels, 768 MB of RGB
 * and several GB in the decoder) is refused with the right reason instead of taking the memory,
 * in Node (./decode-node.ts) and in the browser (./decode-browser.ts) alike.
 *
 *   imageHeaderSize(bytes) -> { width, height, format } | null   PNG (IHDR), JPEG (SOFn), WebP
 *                             (VP8 / VP8L / VP8X), GIF (logical screen), BMP, AVIF/HEIF ('ispe');
 *                             null for anything else (the decoder then decides)
 *   pixelLimitProblem(name, bytes, limit) -> the error text, or null
 *
 * The limit is PIL's Image.MAX_IMAGE_PIXELS (89,478,485 pixels, ~9459 x 9459), where PIL warns of
 * a decompression bomb; product photos are far below it.
 */

/** PIL's Image.MAX_IMAGE_PIXELS. */
export const MAX_IMAGE_PIXELS = 89_478_485;

export interface HeaderSize {
  width: number;
  height: number;
  format: string;
}

const u16be = (b: Uint8Array, i: number) => (b[i] << 8) | b[i + 1];
const u32be = (b: Uint8Array, i: number) => ((b[i] << 24) >>> 0) + (b[i + 1] << 16) + (b[i + 2] << 8) + b[i + 3];
const u16le = (b: Uint8Array, i: number) => b[i] | (b[i + 1] << 8);
const u24le = (b: Uint8Array, i: number) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
const ascii = (b: Uint8Array, i: number, s: string) => [...s].every((c, k) => b[i + k] === c.charCodeAt(0));

function jpegSize(b: Uint8Array): HeaderSize | null {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return null;
    const m = b[i + 1];
    if (m === 0xff) {
      i++; // fill byte
      continue;
    }
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) {
      i += 2; // no length
      continue;
    }
    // SOF0-3, 5-7, 9-11, 13-15 carry the frame size
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      return { height: u16be(b, i + 5), width: u16be(b, i + 7), format: 'JPEG' };
    }
    if (m === 0xd9 || m === 0xda) return null; // end, or scan data before any frame header
    i += 2 + u16be(b, i + 2);
  }
  return null;
}

function webpSize(b: Uint8Array): HeaderSize | null {
  if (b.length < 30) return null;
  if (ascii(b, 12, 'VP8X')) return { width: u24le(b, 24) + 1, height: u24le(b, 27) + 1, format: 'WebP' };
  if (ascii(b, 12, 'VP8L')) {
    const bits = b[21] | (b[22] << 8) | (b[23] << 16) | (b[24] << 24);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1, format: 'WebP' };
  }
  if (ascii(b, 12, 'VP8 ')) return { width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff, format: 'WebP' };
  return null;
}

/** The largest 'ispe' (image spatial extent) property of an ISO-BMFF file (AVIF, HEIF). */
function ispeSize(b: Uint8Array): HeaderSize | null {
  let best: HeaderSize | null = null;
  const end = Math.min(b.length - 16, 1 << 16);
  for (let i = 4; i < end; i++) {
    if (b[i] === 0x69 && ascii(b, i, 'ispe')) {
      const width = u32be(b, i + 8),
        height = u32be(b, i + 12);
      if (!best || width * height > best.width * best.height) best = { width, height, format: 'AVIF/HEIF' };
    }
  }
  return best;
}

export function imageHeaderSize(b: Uint8Array): HeaderSize | null {
  if (b.length >= 24 && b[0] === 0x89 && ascii(b, 1, 'PNG') && ascii(b, 12, 'IHDR')) {
    return { width: u32be(b, 16), height: u32be(b, 20), format: 'PNG' };
  }
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) return jpegSize(b);
  if (b.length >= 16 && ascii(b, 0, 'RIFF') && ascii(b, 8, 'WEBP')) return webpSize(b);
  if (b.length >= 10 && ascii(b, 0, 'GIF8')) return { width: u16le(b, 6), height: u16le(b, 8), format: 'GIF' };
  if (b.length >= 26 && ascii(b, 0, 'BM')) {
    const core = (b[14] | (b[15] << 8)) === 12;
    const i32 = (i: number) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
    return core
      ? { width: u16le(b, 18), height: u16le(b, 20), format: 'BMP' }
      : { width: Math.abs(i32(18)), height: Math.abs(i32(22)), format: 'BMP' };
  }
  if (b.length >= 12 && ascii(b, 4, 'ftyp')) return ispeSize(b);
  return null;
}

/** Text of a pixel-count refusal, e.g. for sharp's own limit error (no dimensions known). */
export function pixelLimitText(
  name: string,
  size: { width: number; height: number; format?: string } | null,
  limit = MAX_IMAGE_PIXELS,
): string {
  const mp = (n: number) => `${(n / 1e6).toFixed(1)} megapixels`;
  const dims = size
    ? `${size.format ? `a ${size.format} of ` : ''}${size.width}x${size.height} (${mp(size.width * size.height)}, ${Math.round((size.width * size.height * 3) / 1e6)} MB of RGB)`
    : 'an image';
  return `${name}: ${dims} above the limit of ${mp(limit)}; refused before decoding (a decompression bomb, or a photo far larger than any model input; downscale it first)`;
}

/** The refusal text when the header says the image has more than `limit` pixels, else null. */
export function pixelLimitProblem(name: string, bytes: Uint8Array, limit = MAX_IMAGE_PIXELS): string | null {
  const s = imageHeaderSize(bytes);
  return s && s.width * s.height > limit ? pixelLimitText(name, s, limit) : null;
}

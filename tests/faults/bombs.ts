/**
 * Decompression bombs for the fault-injection suite, browser-safe (no Node APIs): image files
 * whose header claims 16000 x 16000 pixels (256 megapixels, 768 MB of RGB) or more, in each
 * format the decoders read, with no real pixel data behind it: a decoder that trusted the header
 * would allocate gigabytes, ours must refuse from the header alone. Used by
 * tests/faults/inputs.test.ts (Node, sharp) and tests/e2e/faults-page.ts (Chromium).
 */

const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
const be32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];

/** CRC-32 of PNG chunks. */
function crc32(b: number[]): number {
  let c = ~0;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function pngHeader(w: number, h: number): Uint8Array {
  const chunk = (type: string, data: number[]) => {
    const body = [...ascii(type), ...data];
    return [...be32(data.length), ...body, ...be32(crc32(body))];
  };
  const ihdr = [...be32(w), ...be32(h), 8, 2, 0, 0, 0];
  const idat = [0x78, 0x9c, 0xed, 0xc1, 0x01, 0x0d, 0x00, 0x00]; // a few bytes of deflate, far from enough
  return Uint8Array.from([
    0x89,
    ...ascii('PNG'),
    0x0d,
    0x0a,
    0x1a,
    0x0a,
    ...chunk('IHDR', ihdr),
    ...chunk('IDAT', idat),
    ...chunk('IEND', []),
  ]);
}

/** name -> bytes; the side of the square image is 16000 except huge.png (20000). */
export const BOMBS: Record<string, Uint8Array> = {
  'bomb.png': pngHeader(16000, 16000),
  'huge.png': pngHeader(20000, 20000),
  // JFIF APP0, then SOF0: 8 bits, 16000 x 16000 (0x3e80), 3 components
  'bomb.jpg': Uint8Array.from([
    0xff,
    0xd8,
    0xff,
    0xe0,
    0,
    16,
    ...ascii('JFIF'),
    0,
    1,
    1,
    0,
    0,
    1,
    0,
    1,
    0,
    0,
    0xff,
    0xc0,
    0,
    17,
    8,
    0x3e,
    0x80,
    0x3e,
    0x80,
    3,
    1,
    0x22,
    0,
    2,
    0x11,
    1,
    3,
    0x11,
    1,
    0xff,
    0xd9,
  ]),
  // RIFF/WEBP with a VP8X canvas of 16000 x 16000 (stored minus one, 24 bits little-endian)
  'bomb.webp': Uint8Array.from([
    ...ascii('RIFF'),
    30,
    0,
    0,
    0,
    ...ascii('WEBPVP8X'),
    10,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0x7f,
    0x3e,
    0,
    0x7f,
    0x3e,
    0,
  ]),
  'bomb.gif': Uint8Array.from([...ascii('GIF89a'), 0x80, 0x3e, 0x80, 0x3e, 0, 0, 0, 0x3b]),
};

/** The message both decoders must give for BOMBS[name]. */
export function bombMessage(name: string): RegExp {
  const side = name === 'huge.png' ? 20000 : 16000;
  return new RegExp(
    `^${name.replace('.', '\\.')}: a (PNG|JPEG|WebP|GIF) of ${side}x${side} \\(${((side * side) / 1e6).toFixed(1)} megapixels, \\d+ MB of RGB\\) above the limit of 89\\.5 megapixels; refused before decoding`,
  );
}

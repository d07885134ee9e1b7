/**
 * Packed-f16 storage: tensors kept as IEEE half floats, two per u32 word (element 2i in the low
 * half, 2i+1 in the high half), which is what WGSL's core `pack2x16float` / `unpack2x16float`
 * read and write, so every adapter can use it (no `shader-f16` needed). Kernels load an f16
 * element as f32 and compute in f32; only storage is halved (src/model/vit.ts: frozen weights and
 * the activations the GEMMs and the attention read, with `fp16: true`).
 *
 * A buffer's element type is a property of the buffer: `zerosF16` / `uploadF16` tag it, `isF16`
 * tells the ops which kernel variant to use, `readF16` unpacks it on the CPU.
 */
import type { Gpu } from './device';

const tagged = new WeakSet<GPUBuffer>();

/** Whether `buf` holds packed f16 (made by zerosF16 / uploadF16). */
export function isF16(buf: GPUBuffer): boolean {
  return tagged.has(buf);
}

/** A zero-filled packed-f16 buffer of n elements (ceil(n / 2) words, 16-byte multiple). */
export function zerosF16(gpu: Gpu, n: number, label = ''): GPUBuffer {
  const b = gpu.buffer(Math.ceil(n / 2) * 4, `${label} (f16)`);
  tagged.add(b);
  return b;
}

/** Uploads f32 values rounded to f16 (round to nearest even) into a new packed buffer. */
export function uploadF16(gpu: Gpu, data: Float32Array, label = ''): GPUBuffer {
  const b = zerosF16(gpu, data.length, label);
  gpu.write(b, packF16(data));
  return b;
}

/** Reads n f16 elements from element `offset` (even) of a packed buffer, as f32. */
export async function readF16(gpu: Gpu, buf: GPUBuffer, n?: number, offset = 0): Promise<Float32Array> {
  if (offset % 2) throw new Error(`readF16: offset ${offset} is odd`);
  const count = n ?? buf.size / 2 - offset;
  const words = new Uint32Array(await gpu.readBytes(buf, Math.ceil(count / 2) * 4, offset * 2));
  return unpackF16(words, count);
}

// ------------------------------------------------------------------ CPU conversion

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The f16 bits of x (round to nearest even; overflow to infinity; NaN stays NaN). */
export function f16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf, NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    // subnormal half (or zero): shift the implicit 1 in
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++; // may carry into the exponent: correct
  return sign | h;
}

/** The f32 value of f16 bits h. */
export function f16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** x rounded to the nearest f16 (as a number). */
export function roundF16(x: number): number {
  return f16Value(f16Bits(x));
}

/** Packs f32 values into f16 pairs (an odd tail gets a zero high half). */
export function packF16(data: ArrayLike<number>): Uint32Array {
  const out = new Uint32Array(Math.ceil(data.length / 2));
  for (let i = 0; i < data.length; i += 2) {
    const lo = f16Bits(data[i]);
    const hi = i + 1 < data.length ? f16Bits(data[i + 1]) : 0;
    out[i >> 1] = (lo | (hi << 16)) >>> 0;
  }
  return out;
}

export function unpackF16(words: Uint32Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f16Value((words[i >> 1] >>> ((i & 1) * 16)) & 0xffff);
  return out;
}

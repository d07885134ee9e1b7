/**
 * Uniform parameter blocks of dispatches and workgroup counts: `packParams` packs u32 fields and
 * then f32 fields (as their bits) into a Uint32Array padded to a multiple of 4 words (16 bytes,
 * WGSL's uniform struct alignment); `Gpu.dispatch` copies it into the segment's uniform arena
 * (src/gpu/device.ts), so a block may be reused or dropped once dispatched.
 */

const f32Bits = new Float32Array(1);
const u32Bits = new Uint32Array(f32Bits.buffer);

/** Packs a uniform block: u32 fields, then f32 fields (their bits), padded to 16 bytes. */
export function packParams(u32: number[], f32: number[] = []): Uint32Array {
  const n = u32.length + f32.length;
  const out = new Uint32Array(n <= 4 ? 4 : (n + 3) & ~3);
  for (let i = 0; i < u32.length; i++) {
    const v = u32[i];
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new Error(`packParams: u32 field ${i} = ${v} is not a u32`);
    }
    out[i] = v;
  }
  for (let i = 0; i < f32.length; i++) {
    f32Bits[0] = f32[i];
    out[u32.length + i] = u32Bits[0];
  }
  return out;
}

/** Ceiling division: workgroups needed to cover `a` items, `b` per workgroup. */
export function cdiv(a: number, b: number): number {
  return Math.ceil(a / b);
}

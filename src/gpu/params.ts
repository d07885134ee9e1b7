/**
 * Uniform parameter blocks of dispatches and workgroup counts: `packParams` packs u32 fields and
 * then f32 fields (as their bits) into the words of a `Params` block padded to a multiple of 4
 * (16 bytes, WGSL's uniform struct alignment); `Gpu.dispatch` copies it into the segment's uniform
 * arena (src/gpu/device.ts), so a block may be reused or dropped once dispatched. A block is a
 * plain array, not a typed array: one is made per dispatch, and in a browser a typed array (view,
 * buffer, backing store) costs several times more to make and to collect, which the thousands of
 * dispatches of a step pay on the host (bench row dispatch.overhead).
 */

/** A uniform block: its u32 words (f32 fields as their bits), a multiple of 4 long. */
export type Params = number[];

const f32View = new Float32Array(1);
const u32View = new Uint32Array(f32View.buffer);

/** The bits of `v` as an f32, as a u32. */
export function f32Bits(v: number): number {
  f32View[0] = v;
  return u32View[0];
}

/** Words of a block of `n` fields: padded to a multiple of 4 (16 bytes), at least 4. */
export function paramWords(n: number): number {
  return n <= 4 ? 4 : (n + 3) & ~3;
}

/** Whether `v` fits a u32 field. */
export function isU32(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

/** Packs a uniform block: u32 fields, then f32 fields (their bits), padded to 16 bytes. */
export function packParams(u32: number[], f32: number[] = []): Params {
  const nu = u32.length,
    n = nu + f32.length;
  const len = paramWords(n);
  const out: Params = new Array<number>(len); // sized once: `push` would grow it to 17 slots
  for (let i = 0; i < nu; i++) {
    const v = u32[i];
    if (!isU32(v)) throw new Error(`packParams: u32 field ${i} = ${v} is not a u32`);
    out[i] = v;
  }
  for (let i = nu; i < n; i++) out[i] = f32Bits(f32[i - nu]);
  for (let i = n; i < len; i++) out[i] = 0;
  return out;
}

/** Ceiling division: workgroups needed to cover `a` items, `b` per workgroup. */
export function cdiv(a: number, b: number): number {
  return Math.ceil(a / b);
}

/** Bytes of a uniform block. */
export function paramBytes(p: Params | ArrayBuffer | ArrayBufferView): number {
  return Array.isArray(p) ? 4 * p.length : p.byteLength;
}

/**
 * attention, the shapes and checks every variant shares: `AttentionShape` (the packed qkv layout,
 * re-exported by ./attention), `Layout` (the shape with its defaults filled in), `layoutOf` (checks
 * a shape), `checkBuffers` (checks buffer sizes) and `describe` (the shapes string of a dispatch).
 * The op itself, its variants and the math: ./attention.
 */
import { isF16 } from '../gpu/f16';
import { dims, type Shapes } from '../gpu/device';

export interface AttentionShape {
  B: number;
  T: number;
  H: number;
  /** Head dim; C = H * Dh. */
  Dh: number;
  /** q, k, v are column blocks of one packed buffer qkv [B*T, ld] (the fused QKV GEMM output):
   * q at columns [offQ, offQ + C), k at [offK, ...), v at [offV, ...); defaults ld = 3C, 0, C, 2C. */
  ld?: number;
  offQ?: number;
  offK?: number;
  offV?: number;
  /** DINOv3 2-D RoPE applied to q and k on load (tables from ropeTables(Hp, Wp, Dh, theta), [P, Dh]);
   * rows n >= prefix of each image use table row n - prefix; null = no RoPE (DINOv2). */
  rope: { cos: GPUBuffer; sin: GPUBuffer; prefix: number } | null;
}

export type AttentionVariant = 'flash' | 'matmul';

/** AttentionShape with the defaults filled in and checked. */
export interface Layout {
  B: number;
  T: number;
  H: number;
  Dh: number;
  C: number;
  ld: number;
  offQ: number;
  offK: number;
  offV: number;
  scale: number;
  rope: AttentionShape['rope'];
}

/** Bytes of an f32 element. */
export const F32 = 4;

function checkSize(op: string, what: string, buf: GPUBuffer, floats: number, shape: string): void {
  const bytes = floats * (isF16(buf) ? 2 : F32); // packed f16 (src/gpu/f16.ts): 2 bytes each
  if (buf.size < bytes) {
    throw new Error(`${op}: ${what} has ${buf.size} bytes, needs ${shape} = ${bytes}`);
  }
}

/** Checks a shape and fills in the defaults. */
export function layoutOf(op: string, s: AttentionShape): Layout {
  for (const k of ['B', 'T', 'H', 'Dh'] as const) {
    if (!Number.isInteger(s[k]) || s[k] <= 0) throw new Error(`${op}: ${k} = ${s[k]} must be a positive integer`);
  }
  const { B, T, H, Dh } = s;
  const C = H * Dh;
  const l: Layout = {
    B,
    T,
    H,
    Dh,
    C,
    ld: s.ld ?? 3 * C,
    offQ: s.offQ ?? 0,
    offK: s.offK ?? C,
    offV: s.offV ?? 2 * C,
    scale: 1 / Math.sqrt(Dh),
    rope: s.rope,
  };
  const blocks = (['offQ', 'offK', 'offV'] as const).map((k) => ({ k, at: l[k] })).sort((a, b) => a.at - b.at);
  for (const [i, { k, at }] of blocks.entries()) {
    if (!Number.isInteger(at) || at < 0 || at + C > l.ld) {
      throw new Error(
        `${op}: ${k} = ${at}: the block [${k}, ${k} + C = ${C}) must lie in the row of ld = ${l.ld} columns`,
      );
    }
    if (i > 0 && blocks[i - 1].at + C > at) {
      throw new Error(
        `${op}: the q, k, v blocks overlap (${blocks[i - 1].k} = ${blocks[i - 1].at}, ${k} = ${at}, C = ${C})`,
      );
    }
  }
  if (s.rope) {
    const { prefix } = s.rope;
    if (Dh % 4 !== 0) throw new Error(`${op}: RoPE needs a head dim Dh divisible by 4, got ${Dh}`);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > T) {
      throw new Error(`${op}: RoPE prefix ${prefix} must be an integer in [0, T = ${T}]`);
    }
  }
  return l;
}

/** Checks buffer sizes: `packed` ones hold [B*T, ld], `rows` ones [B*T, C]; lse [B*H*T]; tables. */
export function checkBuffers(
  op: string,
  l: Layout,
  packed: [string, GPUBuffer][],
  rows: [string, GPUBuffer][],
  lse: GPUBuffer,
): void {
  const { B, T, H, C } = l;
  for (const [what, b] of packed) checkSize(op, what, b, B * T * l.ld, `[B*T=${B * T}, ld=${l.ld}]`);
  for (const [what, b] of rows) checkSize(op, what, b, B * T * C, `[B*T=${B * T}, C=${C}]`);
  checkSize(op, 'lse', lse, B * H * T, `[B*H*T=${B * H * T}]`);
  if (l.rope) {
    const P = T - l.rope.prefix;
    checkSize(op, 'RoPE cos table', l.rope.cos, P * l.Dh, `[P=${P}, Dh=${l.Dh}]`);
    checkSize(op, 'RoPE sin table', l.rope.sin, P * l.Dh, `[P=${P}, Dh=${l.Dh}]`);
  }
}

/** The shapes of a dispatch (a `dims` template): the layout and the variant that runs. */
export function describe(l: Layout, variant: AttentionVariant): Shapes {
  return dims`qkv[${l.B * l.T},${l.ld}] q@${l.offQ} k@${l.offK} v@${l.offV} B=${l.B} T=${l.T} H=${l.H} Dh=${l.Dh}${l.rope ? ' rope prefix=' : ''}${l.rope ? l.rope.prefix : ''} (${variant})`;
}

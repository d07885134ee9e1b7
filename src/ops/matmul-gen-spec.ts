/**
 * What the matmul WGSL generator (src/ops/matmul-gen.ts) takes, and the layout both sides agree
 * on: a schedule (how the work is tiled), a fusion set (what happens on load and on store, see
 * matmul-gen.ts for the order of the epilogue), the problems of one dispatch and the binding slots
 * they share. src/ops/matmul-problem.ts packs parameters in the order `paramFields` gives and binds
 * buffers in the order `problemBindings` gives.
 */

export type Prologue = 'none' | 'gelu' | 'dropout' | 'geludrop' | 'kscale';

/**
 * Native half loads and stores: the slots holding packed f16 (SlotSpec.f16) are bound as
 * array<vec2<H>> (array<vec4<H>> for vec4 slots) instead of array<u32> read through
 * unpack2x16float; same memory layout, arithmetic stays f32. 'f16' is the real thing (`enable
 * f16;`, the `shader-f16` feature); 'f32' writes the very same code with f32 in place of f16, so
 * that adapters without shader-f16 (SwiftShader) check its indexing and conversions on f32 data.
 */
export type Half = 'f16' | 'f32';

export interface RegSchedule {
  kind: 'reg';
  /** Outputs per invocation along M and N (multiples of 4). */
  tm: number;
  tn: number;
  /** A and B (and A2, B2) bound as array<vec4<f32>>: needs 4-aligned offsets and strides. */
  vec4: boolean;
  /** Share loads inside a 2x2 quad (needs the subgroups feature; wg sizes even). */
  quad: boolean;
  half?: Half;
}

export interface TiledSchedule {
  kind: 'tiled';
  /** Workgroup tile BM x BN, K-step BK; each invocation TM x TN (so BN/TN x BM/TM invocations). */
  bm: number;
  bn: number;
  bk: number;
  tm: number;
  tn: number;
  half?: Half;
}

/**
 * Subgroup matrices (tensor cores; `chromium-experimental-subgroup-matrix`): one subgroup-sized
 * workgroup owns an FM x FN grid of m x n result matrices (a BM = FM m by BN = FN n tile of C),
 * stages op(A) and op(B) in K-steps of BK (a multiple of k) as f16 in workgroup memory and
 * accumulates in f32 (the adapter's f16 x f16 -> f32 configuration m x n x k).
 */
export interface SgmatSchedule {
  kind: 'sgmat';
  m: number;
  n: number;
  k: number;
  fm: number;
  fn: number;
  bk: number;
  half: 'f16';
}

export type Schedule = RegSchedule | TiledSchedule | SgmatSchedule;

export interface Fusion {
  transA: boolean;
  transB: boolean;
  accum: boolean;
  bias: boolean;
  proA: Prologue;
  proB: Prologue;
  k2: boolean;
  colScale: boolean;
  /** Store v (after bias and column scale) into `pre` before the other epilogue steps. */
  pre: boolean;
  /** Inverted dropout on the product (LoRA's input gradient): mask at dbase + c - offC. */
  epiDropout: boolean;
  /** Keep v only where n is in [lo, hi) of row m's segment (m / segment rows; at most 3). */
  blockMask: boolean;
  gelu: boolean;
  geluGrad: boolean;
  residual: 'none' | 'src' | 'inplace';
  /** Residual scale vector ls[n] (LayerScale); without it the residual adds v itself. */
  ls: boolean;
}

export const NO_FUSION: Fusion = {
  transA: false,
  transB: false,
  accum: false,
  bias: false,
  proA: 'none',
  proB: 'none',
  k2: false,
  colScale: false,
  pre: false,
  epiDropout: false,
  blockMask: false,
  gelu: false,
  geluGrad: false,
  residual: 'none',
  ls: false,
};

/** Short stable key of a fusion set (part of the generated shader's name). */
export function fusionKey(f: Fusion): string {
  const bits: string[] = [];
  if (f.transA) bits.push('tA');
  if (f.transB) bits.push('tB');
  if (f.accum) bits.push('acc');
  if (f.bias) bits.push('bias');
  if (f.proA !== 'none') bits.push(`pa-${f.proA}`);
  if (f.proB !== 'none') bits.push(`pb-${f.proB}`);
  if (f.k2) bits.push('k2');
  if (f.colScale) bits.push('cs');
  if (f.pre) bits.push('pre');
  if (f.epiDropout) bits.push('edrop');
  if (f.blockMask) bits.push('bmask');
  if (f.gelu) bits.push('gelu');
  if (f.geluGrad) bits.push('dgelu');
  if (f.residual !== 'none') bits.push(`res-${f.residual}`);
  if (f.ls) bits.push('ls');
  return bits.join('.') || 'plain';
}

/** The operands and extra tensors of a problem, in a fixed order: C, A, B, then the extras. */
export function problemBindings(f: Fusion): string[] {
  const b = ['C', 'A', 'B'];
  if (f.bias) b.push('bias');
  if (f.proA === 'kscale') b.push('ks');
  if (f.k2) b.push('A2', 'B2');
  if (f.colScale) b.push('cs');
  if (f.pre) b.push('pre');
  if (f.geluGrad) b.push('H');
  if (f.residual === 'src') b.push('R');
  if (f.ls) b.push('ls');
  return b;
}

/** Whether a binding of a problem is written (else read only). */
export function bindingWritten(name: string): boolean {
  return name === 'C' || name === 'pre';
}

/** Whether a binding of a problem is read as vec4 by the vec4 register schedule. */
export function bindingVec4(name: string): boolean {
  return name === 'A' || name === 'B' || name === 'A2' || name === 'B2';
}

function isDrop(p: Prologue): boolean {
  return p === 'dropout' || p === 'geludrop';
}

export function usesDropout(f: Fusion): boolean {
  return isDrop(f.proA) || isDrop(f.proB) || f.epiDropout;
}

/** u32 then f32 fields of one problem's parameter block, in order (the TS side packs them so). */
export function paramFields(f: Fusion): { u32: string[]; f32: string[] } {
  const u32 = [
    'M',
    'N',
    'K',
    'lda',
    'ldb',
    'ldc',
    'offA',
    'offB',
    'offC',
    'NB2',
    'sA1',
    'sA2',
    'sB1',
    'sB2',
    'sC1',
    'sC2',
  ];
  const f32 = ['alpha'];
  if (f.k2) u32.push('K2', 'lda2', 'ldb2', 'offA2', 'offB2');
  if (usesDropout(f)) {
    u32.push('seed0', 'seed1', 'thr', 'dbase');
    f32.push('dscale');
  }
  if (f.blockMask) u32.push('mseg', 'mlo0', 'mhi0', 'mlo1', 'mhi1', 'mlo2', 'mhi2');
  // multi-problem dispatch: first flattened workgroup of this problem, tiles along N
  u32.push('wg0', 'wgx');
  return { u32, f32 };
}

/** Throws on a schedule or fusion set the generator cannot write. */
export function validate(s: Schedule, f: Fusion): void {
  const drops = [isDrop(f.proA), isDrop(f.proB), f.epiDropout].filter(Boolean).length;
  if (drops > 1) throw new Error('matmul-gen: one dropout (prologue or epilogue) at most');
  if (f.proB === 'kscale') throw new Error('matmul-gen: kscale is a prologue of A only');
  if (f.gelu && f.geluGrad) throw new Error('matmul-gen: gelu and geluGrad exclude each other');
  if (f.ls && f.residual === 'none') throw new Error('matmul-gen: ls needs a residual');
  if (f.residual !== 'none' && f.accum) throw new Error('matmul-gen: residual and accum exclude each other');
  if (s.kind === 'sgmat') {
    if (f.k2) throw new Error('matmul-gen: the subgroup-matrix schedule has no second product');
    if (s.bk % s.k || s.n % 4) throw new Error(`matmul-gen: sgmat K-step ${s.bk} or width ${s.n} does not fit`);
    return;
  }
  if (s.tm % 4 || s.tn % 4) throw new Error(`matmul-gen: tile ${s.tm}x${s.tn} is not a multiple of 4`);
  if (s.kind === 'tiled' && (s.bm % s.tm || s.bn % s.tn || s.bm % 4 || s.bn % 4)) {
    throw new Error(`matmul-gen: tile ${s.bm}x${s.bn} does not split into ${s.tm}x${s.tn}`);
  }
}

/** One problem of a (multi-problem) kernel: its fusions and the slot of each of its bindings. */
export interface ProblemSpec {
  fusion: Fusion;
  /** Binding name (problemBindings) -> slot index. */
  slots: Record<string, number>;
}

export interface SlotSpec {
  written: boolean;
  /** Bound as array<vec4<f32>> (only with the vec4 register schedule). */
  vec4: boolean;
  /** Packed f16 (src/gpu/f16.ts): array<u32> of pairs, or array<vec2<u32>> of quads with vec4. */
  f16?: boolean;
}

/** The WGSL element type of a slot's array (packed f16 slots: native vectors with `half`). */
export function slotType(s: SlotSpec, half?: Half): string {
  if (s.f16 && half) return s.vec4 ? `vec4<${half}>` : `vec2<${half}>`;
  if (s.f16) return s.vec4 ? 'vec2<u32>' : 'u32';
  return s.vec4 ? 'vec4<f32>' : 'f32';
}

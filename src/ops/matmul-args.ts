/**
 * The arguments of a matmul call (src/ops/matmul.ts): shapes, strides, batching and the optional
 * fusions (`MatmulArgs`), their defaults (`layout`, `second`) and the fusion set the generated
 * kernel must implement (`fusionOf`, see src/ops/matmul-gen.ts).
 */
import { NO_FUSION, type Fusion } from './matmul-gen-spec';

/** An element-wise transform of an operand as it is loaded. */
export type MatmulPrologue =
  | { kind: 'gelu' }
  /** Inverted dropout with the counter-based mask of ops/dropout (index = element position in
   * the stored matrix, relative to its offset), as `dropoutForward(out, x, n, p, seed0, seed1)`. */
  | ({ kind: 'dropout' } & MatmulDropout)
  /** dropout(gelu(x)) (an fc2 adapter's input recomputed from the saved GELU input). */
  | ({ kind: 'geludrop' } & MatmulDropout)
  /** op(A)[m, k] * v[k] (A only): a LayerScale applied to the residual-stream gradient it reads. */
  | { kind: 'kscale'; v: GPUBuffer };

/** The counter-based inverted dropout of ops/dropout: keep(seed0, seed1, base + index). */
export interface MatmulDropout {
  p: number;
  seed0: number;
  seed1: number;
  /** Added to the element index (so a chunk of rows uses the masks of its place in the batch). */
  base?: number;
}

export interface MatmulArgs {
  M: number;
  N: number;
  K: number;
  /** A is stored [K,M] instead of [M,K]. */
  transA?: boolean;
  /** B is stored [N,K] instead of [K,N]. */
  transB?: boolean;
  /** Add into C instead of overwriting it. */
  accum?: boolean;
  alpha?: number;
  /** Optional bias of length N added to every row. */
  bias?: GPUBuffer;
  /** Leading dimensions (row strides in elements); default: dense. */
  lda?: number;
  ldb?: number;
  ldc?: number;
  offA?: number;
  offB?: number;
  offC?: number;
  /** Batch = batch1 * batch2; matrix z1*batch2+z2 starts at off + z1*s1 + z2*s2. */
  batch1?: number;
  batch2?: number;
  strideA?: [number, number];
  strideB?: [number, number];
  strideC?: [number, number];
  /** Op name for errors/profiles (defaults to `matmul`). */
  op?: string;

  // ---- fusions
  proA?: MatmulPrologue;
  proB?: MatmulPrologue;
  /** A second product added before the epilogue: + alpha * op(A2) op(B2), op(A2) [M, K2],
   * op(B2) [K2, N], the same transposes as A and B; not batched. */
  second?: { A: GPUBuffer; B: GPUBuffer; K: number; lda?: number; ldb?: number; offA?: number; offB?: number };
  /** v *= colScale[n] (after the bias). */
  colScale?: GPUBuffer;
  /** pre[c] = v after bias and column scale, before the steps below (pre laid out like C). */
  pre?: GPUBuffer;
  /** Inverted dropout on the product, mask index base + (c - offC) (LoRA's input gradient). */
  dropout?: MatmulDropout;
  /** Keep v only where n is in ranges[m / rows] (the block-diagonal LoRA B of a fused q|k|v). */
  blockMask?: { rows: number; ranges: [number, number][] };
  /** C[c] = gelu(v). */
  gelu?: boolean;
  /** v *= gelu'(H[c]) (H laid out like C: the GELU input saved by the forward). */
  geluGrad?: { H: GPUBuffer };
  /** v = R[c] + ls[n] * v (R laid out like C; 'inplace': R is C itself); ls absent = 1. */
  residual?: { R: GPUBuffer | 'inplace'; ls?: GPUBuffer };
}

/** One call of `matmulMulti`. */
export interface MatmulCall {
  C: GPUBuffer;
  A: GPUBuffer;
  B: GPUBuffer;
  args: MatmulArgs;
}

/** MatmulArgs with every default filled in. */
export interface Layout {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  lda: number;
  ldb: number;
  ldc: number;
  offA: number;
  offB: number;
  offC: number;
  b1: number;
  b2: number;
  sA: [number, number];
  sB: [number, number];
  sC: [number, number];
}

/** The layout of a call: dense strides, zero offsets and one batch where it gives none. */
export function layout(a: MatmulArgs): Layout {
  const { M, N, K } = a;
  const transA = a.transA ?? false;
  const transB = a.transB ?? false;
  const b2 = a.batch2 ?? 1;
  return {
    M,
    N,
    K,
    transA,
    transB,
    lda: a.lda ?? (transA ? M : K),
    ldb: a.ldb ?? (transB ? K : N),
    ldc: a.ldc ?? N,
    offA: a.offA ?? 0,
    offB: a.offB ?? 0,
    offC: a.offC ?? 0,
    b1: a.batch1 ?? 1,
    b2,
    sA: a.strideA ?? [M * K * b2, M * K],
    sB: a.strideB ?? [K * N * b2, K * N],
    sC: a.strideC ?? [M * N * b2, M * N],
  };
}

/** Whether a call uses any fusion beyond transposes, accumulation and bias (lab kernels have none). */
export function hasFusion(a: MatmulArgs): boolean {
  return !!(
    a.proA ||
    a.proB ||
    a.second ||
    a.colScale ||
    a.pre ||
    a.dropout ||
    a.blockMask ||
    a.gelu ||
    a.geluGrad ||
    a.residual
  );
}

/** The second product's layout with defaults (dense, like A and B). */
export function second(a: MatmulArgs, l: Layout) {
  const s = a.second;
  if (!s) return null;
  return {
    K: s.K,
    lda: s.lda ?? (l.transA ? l.M : s.K),
    ldb: s.ldb ?? (l.transB ? s.K : l.N),
    offA: s.offA ?? 0,
    offB: s.offB ?? 0,
  };
}

/** The fusion set of a call (what the generated kernel must do). */
export function fusionOf(l: Layout, a: MatmulArgs): Fusion {
  const op = a.op ?? 'matmul';
  if (a.residual && a.accum) throw new Error(`${op}: residual and accum exclude each other`);
  if (a.gelu && a.geluGrad) throw new Error(`${op}: gelu and geluGrad exclude each other`);
  const isDrop = (x: MatmulPrologue | undefined) => x?.kind === 'dropout' || x?.kind === 'geludrop';
  const drops = [isDrop(a.proA), isDrop(a.proB), !!a.dropout].filter(Boolean).length;
  if (drops > 1) throw new Error(`${op}: one dropout (on an operand or on the product) at most`);
  return {
    ...NO_FUSION,
    transA: l.transA,
    transB: l.transB,
    accum: !!a.accum,
    bias: !!a.bias,
    proA: a.proA?.kind ?? 'none',
    proB: a.proB?.kind ?? 'none',
    k2: !!a.second,
    colScale: !!a.colScale,
    pre: !!a.pre,
    epiDropout: !!a.dropout,
    blockMask: !!a.blockMask,
    gelu: !!a.gelu,
    geluGrad: !!a.geluGrad,
    residual: a.residual ? (a.residual.R === 'inplace' ? 'inplace' : 'src') : 'none',
    ls: !!a.residual?.ls,
  };
}

/**
 * Batched matmul on the GPU (shaders/ops/matmul.wgsl):
 *   C[z] = alpha * op(A[z]) op(B[z]) (+ bias) (+ C[z] when accum)
 * op(A) is [M,K], op(B) is [K,N], C is [M,N]. Strides and offsets are in elements, so per-head
 * slices of [B,T,C] activations can be used without copies.
 */
import { cdiv, packParams, type Gpu } from '../gpu/device';

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
}

const WG = 8;

const dummies = new WeakMap<Gpu, GPUBuffer>();
/** A 16-byte buffer bound where a shader's optional input is absent. */
export function dummyBuffer(gpu: Gpu): GPUBuffer {
  let b = dummies.get(gpu);
  if (!b) {
    b = gpu.buffer(16, 'dummy');
    dummies.set(gpu, b);
  }
  return b;
}

export function matmul(gpu: Gpu, C: GPUBuffer, A: GPUBuffer, B: GPUBuffer, a: MatmulArgs): void {
  const { M, N, K } = a;
  const transA = a.transA ?? false;
  const transB = a.transB ?? false;
  const lda = a.lda ?? (transA ? M : K);
  const ldb = a.ldb ?? (transB ? K : N);
  const ldc = a.ldc ?? N;
  const b1 = a.batch1 ?? 1;
  const b2 = a.batch2 ?? 1;
  const sA = a.strideA ?? [M * K * b2, M * K];
  const sB = a.strideB ?? [K * N * b2, K * N];
  const sC = a.strideC ?? [M * N * b2, M * N];
  const batch = b1 * b2;
  const shapes =
    `op(A)[${batch > 1 ? `${batch},` : ''}${M},${K}]${transA ? 'ᵀ' : ''} ` +
    `op(B)[${K},${N}]${transB ? 'ᵀ' : ''} -> C[${M},${N}]`;
  gpu.dispatch({
    op: a.op ?? 'matmul',
    shapes,
    shader: 'ops/matmul',
    constants: {
      TRANS_A: transA ? 1 : 0,
      TRANS_B: transB ? 1 : 0,
      ACCUM: a.accum ? 1 : 0,
      HAS_BIAS: a.bias ? 1 : 0,
      WG_X: WG,
      WG_Y: WG,
    },
    buffers: [C, A, B, a.bias ?? dummyBuffer(gpu)],
    params: packParams(
      [M, N, K, lda, ldb, ldc, a.offA ?? 0, a.offB ?? 0, a.offC ?? 0, b2, ...sA, ...sB, ...sC],
      [a.alpha ?? 1],
    ),
    workgroups: [cdiv(cdiv(N, 4), WG), cdiv(cdiv(M, 4), WG), batch],
  });
}

/** out[n] += sum_m x[m,n] for x of shape [M,N]. */
export function colsum(gpu: Gpu, out: GPUBuffer, x: GPUBuffer, M: number, N: number, op = 'colsum'): void {
  gpu.dispatch({
    op,
    shapes: `x[${M},${N}] -> out[${N}]`,
    shader: 'ops/colsum',
    constants: { WG: 64 },
    buffers: [out, x],
    params: packParams([M, N]),
    workgroups: [cdiv(N, 64)],
  });
}

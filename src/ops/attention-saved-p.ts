/**
 * attention, the unfused API that the fused op (./attention) replaced, kept as its peer in the
 * benchmark (bench/ops/attention.bench.ts): separate q, k, v, out [B, T, C] (RoPE already applied
 * to q and k by the caller), P [B, H, T, T] saved per layer in `att` for the backward; strided
 * batched matmuls (./matmul) and the row softmax (./softmax).
 */
import type { Gpu } from '../gpu/device';
import { matmul } from './matmul';
import { softmaxBackward, softmaxForward } from './softmax';

/** Elements of the `att` (saved P) and `datt` (backward scratch) buffers of the unfused API. */
export function attentionAttSize(B: number, T: number, H: number): number {
  return B * H * T * T;
}

function headDim(C: number, H: number): number {
  if (!Number.isInteger(H) || H <= 0 || C % H !== 0) {
    throw new Error(`attention: C = ${C} is not a multiple of H = ${H}`);
  }
  return C / H;
}

/**
 * The unfused forward: q, k, v, out [B, T, C] (RoPE already applied to q, k by the caller);
 * out = concat_h softmax(scale Q_h K_h^T) V_h, P saved in `att` [B, H, T, T] for the backward.
 */
export function attentionForwardSavedP(
  gpu: Gpu,
  out: GPUBuffer,
  att: GPUBuffer,
  q: GPUBuffer,
  k: GPUBuffer,
  v: GPUBuffer,
  B: number,
  T: number,
  C: number,
  H: number,
): void {
  const Dh = headDim(C, H);
  const scale = 1 / Math.sqrt(Dh);
  const heads = { batch1: B, batch2: H };
  const slice: [number, number] = [T * C, Dh]; // head (b, h) of a [B,T,C] tensor
  matmul(gpu, att, q, k, {
    M: T,
    N: T,
    K: Dh,
    transB: true,
    alpha: scale,
    lda: C,
    ldb: C,
    ...heads,
    strideA: slice,
    strideB: slice,
    op: 'attention.fwd.qk',
  });
  softmaxForward(gpu, att, att, B * H * T, T);
  matmul(gpu, out, att, v, {
    M: T,
    N: Dh,
    K: T,
    ldb: C,
    ldc: C,
    ...heads,
    strideB: slice,
    strideC: slice,
    op: 'attention.fwd.pv',
  });
}

/**
 * The unfused backward: adds into dq, dk, dv (a null one is skipped) from the saved P `att`;
 * `datt` [B,H,T,T] is scratch (dP, overwritten in place by dS).
 */
export function attentionBackwardSavedP(
  gpu: Gpu,
  dq: GPUBuffer | null,
  dk: GPUBuffer | null,
  dv: GPUBuffer | null,
  datt: GPUBuffer,
  dout: GPUBuffer,
  q: GPUBuffer,
  k: GPUBuffer,
  v: GPUBuffer,
  att: GPUBuffer,
  B: number,
  T: number,
  C: number,
  H: number,
): void {
  const Dh = headDim(C, H);
  const scale = 1 / Math.sqrt(Dh);
  const heads = { batch1: B, batch2: H };
  const slice: [number, number] = [T * C, Dh];
  if (dv) {
    matmul(gpu, dv, att, dout, {
      M: T,
      N: Dh,
      K: T,
      transA: true,
      accum: true,
      ldb: C,
      ldc: C,
      ...heads,
      strideB: slice,
      strideC: slice,
      op: 'attention.bwd.dv',
    });
  }
  if (!dq && !dk) return;
  matmul(gpu, datt, dout, v, {
    M: T,
    N: T,
    K: Dh,
    transB: true,
    lda: C,
    ldb: C,
    ...heads,
    strideA: slice,
    strideB: slice,
    op: 'attention.bwd.dp',
  });
  softmaxBackward(gpu, datt, datt, att, B * H * T, T, 1, false);
  if (dq) {
    matmul(gpu, dq, datt, k, {
      M: T,
      N: Dh,
      K: T,
      alpha: scale,
      accum: true,
      ldb: C,
      ldc: C,
      ...heads,
      strideB: slice,
      strideC: slice,
      op: 'attention.bwd.dq',
    });
  }
  if (dk) {
    matmul(gpu, dk, datt, q, {
      M: T,
      N: Dh,
      K: T,
      transA: true,
      alpha: scale,
      accum: true,
      ldb: C,
      ldc: C,
      ...heads,
      strideB: slice,
      strideC: slice,
      op: 'attention.bwd.dk',
    });
  }
}

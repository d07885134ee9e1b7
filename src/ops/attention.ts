/**
 * attention: multi-head softmax attention without a mask (DINOv3 / DINOv2; spec §0, §1.3).
 *   q, k, v, out: [B, T, C] with C = H * Dh; head h owns channels [h*Dh, (h+1)*Dh).
 *   att:          [B, H, T, T] probabilities P = softmax(scale * Q_bh K_bh^T), scale = Dh^-0.5.
 *   out[b, :, h*Dh:(h+1)*Dh] = P_bh V_bh   (heads concatenated back in order)
 * Built from the strided batched `matmul` (per-head slices via lda/ldb/ldc, batch1 = B,
 * batch2 = H) and `softmax`; nothing is copied or permuted.
 *
 * Forward saves `att` (P) for the backward, which also needs q, k, v.
 * Backward (adds into dq, dk, dv; a null gradient buffer is skipped):
 *   dP = dO V^T;  dS = P ⊙ (dP - rowsum(dP ⊙ P));
 *   dq += scale dS K;  dk += scale dS^T Q;  dv += P^T dO
 * Buffers the caller provides (sizes in f32 elements, see `attentionAttSize`):
 *   att  [B, H, T, T]: written by the forward, read by the backward (one per layer when
 *        training, since the backward of each layer needs its own P);
 *   datt [B, H, T, T]: backward scratch for dP, overwritten in place by dS; can be shared by
 *        all layers. No other scratch: the scores are turned into P in place in `att`.
 */
import type { Gpu } from '../gpu/device';
import { matmul } from './matmul';
import { softmaxBackward, softmaxForward } from './softmax';

/** Elements of the `att` (saved P) and `datt` (backward scratch) buffers: B * H * T * T. */
export function attentionAttSize(B: number, T: number, H: number): number {
  return B * H * T * T;
}

function headDim(C: number, H: number): number {
  if (!Number.isInteger(H) || H <= 0 || C % H !== 0) {
    throw new Error(`attention: C = ${C} is not a multiple of H = ${H}`);
  }
  return C / H;
}

/** out = concat_h softmax(scale Q_h K_h^T) V_h; saves P in `att`. */
export function attentionForward(
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
  // S = scale Q K^T -> att [B,H,T,T]
  matmul(gpu, att, q, k, {
    M: T, N: T, K: Dh, transB: true, alpha: scale, lda: C, ldb: C,
    ...heads, strideA: slice, strideB: slice, op: 'attention.fwd.qk',
  });
  // P = softmax(S), in place
  softmaxForward(gpu, att, att, B * H * T, T);
  // O = P V -> out [B,T,C], head h into channels [h*Dh, (h+1)*Dh)
  matmul(gpu, out, att, v, {
    M: T, N: Dh, K: T, ldb: C, ldc: C,
    ...heads, strideB: slice, strideC: slice, op: 'attention.fwd.pv',
  });
}

/** Adds the gradients of q, k, v; `datt` is [B,H,T,T] scratch (contents overwritten). */
export function attentionBackward(
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
    // dV += P^T dO
    matmul(gpu, dv, att, dout, {
      M: T, N: Dh, K: T, transA: true, accum: true, ldb: C, ldc: C,
      ...heads, strideB: slice, strideC: slice, op: 'attention.bwd.dv',
    });
  }
  if (!dq && !dk) return;
  // dP = dO V^T -> datt
  matmul(gpu, datt, dout, v, {
    M: T, N: T, K: Dh, transB: true, lda: C, ldb: C,
    ...heads, strideA: slice, strideB: slice, op: 'attention.bwd.dp',
  });
  // dS = P ⊙ (dP - rowsum(dP ⊙ P)), in place
  softmaxBackward(gpu, datt, datt, att, B * H * T, T, 1, false);
  if (dq) {
    // dQ += scale dS K
    matmul(gpu, dq, datt, k, {
      M: T, N: Dh, K: T, alpha: scale, accum: true, ldb: C, ldc: C,
      ...heads, strideB: slice, strideC: slice, op: 'attention.bwd.dq',
    });
  }
  if (dk) {
    // dK += scale dS^T Q
    matmul(gpu, dk, datt, q, {
      M: T, N: Dh, K: T, transA: true, alpha: scale, accum: true, ldb: C, ldc: C,
      ...heads, strideB: slice, strideC: slice, op: 'attention.bwd.dk',
    });
  }
}

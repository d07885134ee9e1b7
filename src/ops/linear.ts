/**
 * linear: y = x W^T + b, as torch.nn.Linear (W stored [Cout, Cin]).
 *   x [N, Cin], W [Cout, Cin], b [Cout] (optional), y [N, Cout]; N = B*T rows.
 * Backward (adds into the gradient buffers, llm.c style; zero them once per step):
 *   dx += dy W          [N, Cin]     (skipped when dx is null)
 *   dW += dy^T x        [Cout, Cin]  (skipped when dW is null: frozen weights)
 *   db += sum_n dy      [Cout]       (skipped when db is null)
 */
import type { Gpu } from '../gpu/device';
import { colsum } from './colsum';
import { matmul } from './matmul';

export function linearForward(
  gpu: Gpu,
  out: GPUBuffer,
  inp: GPUBuffer,
  weight: GPUBuffer,
  bias: GPUBuffer | null,
  N: number,
  Cin: number,
  Cout: number,
): void {
  matmul(gpu, out, inp, weight, {
    M: N,
    N: Cout,
    K: Cin,
    transB: true,
    bias: bias ?? undefined,
    op: 'linear.fwd',
  });
}

export function linearBackward(
  gpu: Gpu,
  dinp: GPUBuffer | null,
  dweight: GPUBuffer | null,
  dbias: GPUBuffer | null,
  dout: GPUBuffer,
  inp: GPUBuffer,
  weight: GPUBuffer,
  N: number,
  Cin: number,
  Cout: number,
): void {
  if (dinp) {
    matmul(gpu, dinp, dout, weight, { M: N, N: Cin, K: Cout, accum: true, op: 'linear.bwd.dx' });
  }
  if (dweight) {
    matmul(gpu, dweight, dout, inp, {
      M: Cout,
      N: Cin,
      K: N,
      transA: true,
      accum: true,
      op: 'linear.bwd.dW',
    });
  }
  if (dbias) colsum(gpu, dbias, dout, N, Cout, 'linear.bwd.db');
}

/**
 * lora: the low-rank branch PEFT adds to a linear layer (docs/model.md#lora):
 *   y += s * B(A(dropout(x)))      x [N, in], A [r, in], B [out, r], y [N, out]
 * s = alpha/r (or alpha/sqrt(r) with rslora), dropout inverted with a counter-based mask.
 * Forward saves u = dropout(x) A^T [N, r] for the backward. Backward (adds into gradients):
 *   dB += s * dy^T u                [out, r]
 *   gu  = s * dy B                  [N, r]
 *   dA += gu^T dropout(x)           [r, in]   (the dropout mask is regenerated from its seeds)
 *   dx += dropout(gu A)             [N, in]   (skipped when dx is null)
 */
import type { Gpu } from '../gpu/device';
import { dropoutForward } from './dropout';
import { matmul } from './matmul';
import { scratch } from './support';

export interface LoraShape {
  N: number;
  inF: number;
  outF: number;
  r: number;
  scale: number;
  /** Dropout probability on the LoRA input (0 = none). */
  p: number;
  seed0: number;
  seed1: number;
}

function dropped(gpu: Gpu, x: GPUBuffer, s: LoraShape): GPUBuffer {
  if (s.p === 0) return x;
  const xd = scratch(gpu, 'lora.xd', s.N * s.inF);
  dropoutForward(gpu, xd, x, s.N * s.inF, s.p, s.seed0, s.seed1);
  return xd;
}

export function loraForward(gpu: Gpu, y: GPUBuffer, u: GPUBuffer, x: GPUBuffer, A: GPUBuffer, B: GPUBuffer, s: LoraShape): void {
  const xd = dropped(gpu, x, s);
  matmul(gpu, u, xd, A, { M: s.N, N: s.r, K: s.inF, transB: true, op: 'lora.fwd.u' });
  matmul(gpu, y, u, B, { M: s.N, N: s.outF, K: s.r, transB: true, alpha: s.scale, accum: true, op: 'lora.fwd.y' });
}

export function loraBackward(
  gpu: Gpu,
  dx: GPUBuffer | null,
  dA: GPUBuffer,
  dB: GPUBuffer,
  dy: GPUBuffer,
  x: GPUBuffer,
  u: GPUBuffer,
  A: GPUBuffer,
  B: GPUBuffer,
  s: LoraShape,
): void {
  matmul(gpu, dB, dy, u, { M: s.outF, N: s.r, K: s.N, transA: true, alpha: s.scale, accum: true, op: 'lora.bwd.dB' });
  const gu = scratch(gpu, 'lora.gu', s.N * s.r);
  matmul(gpu, gu, dy, B, { M: s.N, N: s.r, K: s.outF, alpha: s.scale, op: 'lora.bwd.gu' });
  const xd = dropped(gpu, x, s);
  matmul(gpu, dA, gu, xd, { M: s.r, N: s.inF, K: s.N, transA: true, accum: true, op: 'lora.bwd.dA' });
  if (!dx) return;
  if (s.p === 0) {
    matmul(gpu, dx, gu, A, { M: s.N, N: s.inF, K: s.r, accum: true, op: 'lora.bwd.dx' });
  } else {
    const gx = scratch(gpu, 'lora.gx', s.N * s.inF);
    matmul(gpu, gx, gu, A, { M: s.N, N: s.inF, K: s.r, op: 'lora.bwd.dx' });
    dropoutForward(gpu, dx, gx, s.N * s.inF, s.p, s.seed0, s.seed1, true);
  }
}

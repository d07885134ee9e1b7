/**
 * Column sums on the GPU: out[n] += sum_m x[m, n] for x [M, N] (shaders/ops/colsum.wgsl), the bias
 * and LayerNorm parameter gradients and the second stage of the chunked column sums of ./support.
 */
import { cdiv, packParams, type Gpu } from '../gpu/device';

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

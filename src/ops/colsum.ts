/**
 * Column sums on the GPU: out[n] += sum_m x[m, n] for x [M, N] (shaders/ops/colsum.wgsl), the bias
 * and LayerNorm parameter gradients and the second stage of the chunked column sums of ./support.
 */
import { cdiv, dims, packParams, type Gpu } from '../gpu/device';

/** The kernel's override constants: one object, so the pipeline is found by identity. */
const CONSTANTS = Object.freeze({ WG: 64 });

/** out[n] += sum_m x[m,n] for x of shape [M,N]. */
export function colsum(gpu: Gpu, out: GPUBuffer, x: GPUBuffer, M: number, N: number, op = 'colsum'): void {
  gpu.dispatch({
    op,
    shapes: dims`x[${M},${N}] -> out[${N}]`,
    shader: 'ops/colsum',
    constants: CONSTANTS,
    buffers: [out, x],
    params: packParams([M, N]),
    workgroups: [cdiv(N, 64)],
  });
}

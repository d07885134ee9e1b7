/**
 * layernorm: torch.nn.LayerNorm over the last dim C (biased variance, eps inside the sqrt),
 * on N = B*T rows. eps is 1e-5 for DINOv3, 1e-6 for DINOv2.
 *   forward:  out = (inp - mean) * rstd * weight + bias         (shaders/ops/layernorm.fwd.wgsl)
 *             inp, out [N, C]; weight, bias [C]; saves mean [N] and rstd [N] for the backward.
 *             Variance by the corrected two-pass algorithm (never E[x^2] - E[x]^2).
 *   backward (adds into the gradient buffers; null skips one):
 *     dinp    += rstd * (g - mean_c(g) - xh * mean_c(g * xh)),  g = dout * weight,
 *                xh = (inp - mean) * rstd                       (shaders/ops/layernorm.bwd.wgsl)
 *     dweight += sum_n dout * xh,  dbias += sum_n dout           (layernorm.bwd_params.wgsl
 *                partial sums per chunk of rows, then `colsum`)
 * Row kernels: variant `gpu.variants.get('layernorm')`, 'row' or 'wg' (see ops/support.ts).
 */
import { cdiv, packParams, type Gpu } from '../gpu/device';
import { colsum } from './matmul';
import { chunkRows, grid, rowLayout, scratch } from './support';

export function layernormForward(
  gpu: Gpu,
  out: GPUBuffer,
  mean: GPUBuffer,
  rstd: GPUBuffer,
  inp: GPUBuffer,
  weight: GPUBuffer,
  bias: GPUBuffer,
  N: number,
  C: number,
  eps: number,
): void {
  const { TPR, RPW } = rowLayout(gpu, 'layernorm');
  gpu.dispatch({
    op: 'layernorm.fwd',
    shapes: `inp[${N},${C}] eps=${eps}`,
    shader: 'ops/layernorm.fwd',
    constants: { TPR, RPW },
    buffers: [out, mean, rstd, inp, weight, bias],
    params: packParams([N, C], [eps]),
    workgroups: grid(gpu, cdiv(N, RPW)),
  });
}

export function layernormBackward(
  gpu: Gpu,
  dinp: GPUBuffer | null,
  dweight: GPUBuffer | null,
  dbias: GPUBuffer | null,
  dout: GPUBuffer,
  inp: GPUBuffer,
  weight: GPUBuffer,
  mean: GPUBuffer,
  rstd: GPUBuffer,
  N: number,
  C: number,
): void {
  const shapes = `inp[${N},${C}]`;
  if (dinp) {
    const { TPR, RPW } = rowLayout(gpu, 'layernorm');
    gpu.dispatch({
      op: 'layernorm.bwd',
      shapes,
      shader: 'ops/layernorm.bwd',
      constants: { TPR, RPW },
      buffers: [dinp, dout, inp, weight, mean, rstd],
      params: packParams([N, C]),
      workgroups: grid(gpu, cdiv(N, RPW)),
    });
  }
  if (dweight || dbias) {
    const { rows, chunks } = chunkRows(N);
    const partW = scratch(gpu, 'layernorm.partW', chunks * C);
    const partB = scratch(gpu, 'layernorm.partB', chunks * C);
    const WG = 64;
    gpu.dispatch({
      op: 'layernorm.bwd.params',
      shapes,
      shader: 'ops/layernorm.bwd_params',
      constants: { WG },
      buffers: [partW, partB, dout, inp, mean, rstd],
      params: packParams([N, C, rows]),
      workgroups: [cdiv(C, WG), chunks],
    });
    if (dweight) colsum(gpu, dweight, partW, chunks, C, 'layernorm.bwd.dweight');
    if (dbias) colsum(gpu, dbias, partB, chunks, C, 'layernorm.bwd.dbias');
  }
}

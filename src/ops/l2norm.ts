/**
 * l2norm: row-wise L2 normalisation, torch.nn.functional.normalize(x, dim=-1, eps=1e-12), for
 * embeddings (the retrieval head): N rows of dimension C.
 *   forward:  out = inp / max(||inp||, eps)           (shaders/ops/l2norm.fwd.wgsl)
 *             inp, out [N, C]; saves norm [N] (unclamped) for the backward, which also needs out.
 *   backward: dinp += (dout - out (out . dout)) / norm      when norm >= eps
 *             dinp += dout / eps                            when norm <  eps (clamped)
 *                                                      (shaders/ops/l2norm.bwd.wgsl)
 * Row kernels: variant `gpu.variants.get('l2norm')`, 'row' or 'wg' (see ops/support.ts).
 */
import { cdiv, dims, packParams, type Gpu } from '../gpu/device';
import { grid, rowLayout } from './support';

export const L2NORM_EPS = 1e-12;

export function l2normForward(
  gpu: Gpu,
  out: GPUBuffer,
  norm: GPUBuffer,
  inp: GPUBuffer,
  N: number,
  C: number,
  eps = L2NORM_EPS,
): void {
  const { TPR, RPW } = rowLayout(gpu, 'l2norm');
  gpu.dispatch({
    op: 'l2norm.fwd',
    shapes: dims`inp[${N},${C}]`,
    shader: 'ops/l2norm.fwd',
    constants: { TPR, RPW },
    buffers: [out, norm, inp],
    params: packParams([N, C], [eps]),
    workgroups: grid(gpu, cdiv(N, RPW)),
  });
}

export function l2normBackward(
  gpu: Gpu,
  dinp: GPUBuffer,
  dout: GPUBuffer,
  out: GPUBuffer,
  norm: GPUBuffer,
  N: number,
  C: number,
  eps = L2NORM_EPS,
): void {
  const { TPR, RPW } = rowLayout(gpu, 'l2norm');
  gpu.dispatch({
    op: 'l2norm.bwd',
    shapes: dims`out[${N},${C}]`,
    shader: 'ops/l2norm.bwd',
    constants: { TPR, RPW },
    buffers: [dinp, dout, out, norm],
    params: packParams([N, C], [eps]),
    workgroups: grid(gpu, cdiv(N, RPW)),
  });
}

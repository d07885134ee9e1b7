/**
 * residual: the residual add with LayerScale of a ViT block (DINOv3 `layer_scale{1,2}.lambda1`,
 * DINOv2 `layer_scale{1,2}.lambda1`):
 *   forward:  out = x + lambda ⊙ y         x, y, out [N, C] (N = B*T rows); lambda [C], broadcast
 *             over rows; lambda null: out = x + y. `out` may be `x`: the residual stream is then
 *             updated in place (x += lambda ⊙ y), binding x once, read-write.
 *             (shaders/ops/residual.fwd.wgsl). Saves nothing; dlambda needs the branch output y.
 *   backward (adds into the gradient buffers; null skips one):
 *     dx      = dout: the stream gradient passes through unchanged, so the caller simply keeps
 *               using dout as the gradient of x (no kernel, no copy).
 *     dy     += lambda ⊙ dout                 (shaders/ops/residual.bwd.wgsl; overwrites when
 *               `accumulate` is false)
 *     dlambda += sum_n dout ⊙ y               (residual.bwd_params.wgsl partial sums per chunk
 *               of rows, then `colsum`)
 */
import { cdiv, dims, packParams, type Gpu } from '../gpu/device';
import { colsum } from './colsum';
import { chunkRows, dummyBuffer, grid, scratch } from './support';

const WG = 256;

export function residualForward(
  gpu: Gpu,
  out: GPUBuffer,
  x: GPUBuffer,
  y: GPUBuffer,
  lambda: GPUBuffer | null,
  N: number,
  C: number,
): void {
  const inPlace = out === x;
  gpu.dispatch({
    op: 'residual.fwd',
    shapes: dims`x[${N},${C}]${inPlace ? ' in place' : ''}${lambda ? '' : ' no lambda'}`,
    shader: 'ops/residual.fwd',
    constants: { WG, IN_PLACE: inPlace ? 1 : 0, HAS_LAMBDA: lambda ? 1 : 0 },
    buffers: [out, inPlace ? dummyBuffer(gpu) : x, y, lambda ?? dummyBuffer(gpu)],
    params: packParams([N * C, C]),
    workgroups: grid(gpu, cdiv(N * C, WG)),
  });
}

export function residualBackward(
  gpu: Gpu,
  dy: GPUBuffer | null,
  dlambda: GPUBuffer | null,
  dout: GPUBuffer,
  y: GPUBuffer | null,
  lambda: GPUBuffer | null,
  N: number,
  C: number,
  accumulate = true,
): void {
  const shapes = dims`dout[${N},${C}]${lambda ? '' : ' no lambda'}`;
  if (dy) {
    gpu.dispatch({
      op: 'residual.bwd',
      shapes,
      shader: 'ops/residual.bwd',
      constants: { WG, ACCUM: accumulate ? 1 : 0, HAS_LAMBDA: lambda ? 1 : 0 },
      buffers: [dy, dout, lambda ?? dummyBuffer(gpu)],
      params: packParams([N * C, C]),
      workgroups: grid(gpu, cdiv(N * C, WG)),
    });
  }
  if (dlambda) {
    if (!lambda || !y) throw new Error('residual.bwd: dlambda needs lambda and the saved branch output y');
    const { rows, chunks } = chunkRows(N);
    const part = scratch(gpu, 'residual.part', chunks * C);
    gpu.dispatch({
      op: 'residual.bwd.params',
      shapes,
      shader: 'ops/residual.bwd_params',
      constants: { WG: 64 },
      buffers: [part, dout, y],
      params: packParams([N, C, rows]),
      workgroups: [cdiv(C, 64), chunks],
    });
    colsum(gpu, dlambda, part, chunks, C, 'residual.bwd.dlambda');
  }
}

/**
 * softmax: row-wise over the last dim, numerically safe (row max subtracted, f32 sums), with
 * an optional scale on the logits.  inp, out, dout, dinp: [R, L] row-major.
 *   forward:  out = softmax(scale * inp)                       (shaders/ops/softmax.fwd.wgsl)
 *   backward: dinp += scale * out ⊙ (dout - rowsum(dout ⊙ out)) (shaders/ops/softmax.bwd.wgsl)
 * The forward saves nothing extra: its backward needs only `out`.
 * Both may run in place: `softmaxForward(gpu, x, x, ...)` overwrites the logits with the
 * probabilities, `softmaxBackward(gpu, g, g, ...)` reads dout from `g` and writes dinp there
 * (with `accumulate = false`, the attention backward's dP -> dS step).
 * Kernel layout (`gpu.variants.get('softmax')`, else by `gpu.defaults`):
 *   'row': one invocation per row, 64 rows per workgroup, no workgroup memory: the fast choice
 *          on CPU backends (SwiftShader), where workgroups and barriers are expensive;
 *   'wg':  one workgroup of 64 invocations per row, tree reductions in workgroup memory: GPUs.
 * Workgroups are laid out on a 2-D grid, GRID_X per grid row.
 */
import { cdiv, dims, packParams, type Gpu } from '../gpu/device';
import { dummyBuffer, rowLayout, type RowVariant } from './support';

/** Kernel layouts; see `rowLayout` in ./support. */
export type SoftmaxVariant = RowVariant;

/**
 * Workgroups per grid row. Any value up to the device's per-dimension limit works; a modest one
 * lets the tests reach the 2-D layout (shaders: row = (wid.y * nwg.x + wid.x) * RPW + ...)
 * without millions of rows.
 */
const GRID_X = 4096;

/** Workgroup grid [x, y] with x * y >= the `n` workgroups needed. */
function grid(gpu: Gpu, n: number): [number, number] {
  const x = Math.min(n, GRID_X, gpu.device.limits.maxComputeWorkgroupsPerDimension);
  return [x, x === 0 ? 0 : cdiv(n, x)];
}

export function softmaxForward(gpu: Gpu, out: GPUBuffer, inp: GPUBuffer, R: number, L: number, scale = 1): void {
  const inPlace = out === inp;
  const { TPR, RPW } = rowLayout(gpu, 'softmax');
  gpu.dispatch({
    op: 'softmax.fwd',
    shapes: dims`inp[${R},${L}]${inPlace ? ' in place' : ''} scale=${scale}`,
    shader: 'ops/softmax.fwd',
    constants: { TPR, RPW, IN_PLACE: inPlace ? 1 : 0 },
    buffers: [out, inPlace ? dummyBuffer(gpu) : inp],
    params: packParams([R, L], [scale]),
    workgroups: grid(gpu, cdiv(R, RPW)),
  });
}

/**
 * dinp (+)= scale * out ⊙ (dout - rowsum(dout ⊙ out)), where out = softmax(scale * inp) was
 * saved by the forward. Adds into dinp unless `accumulate` is false. dinp may be dout.
 */
export function softmaxBackward(
  gpu: Gpu,
  dinp: GPUBuffer,
  dout: GPUBuffer,
  out: GPUBuffer,
  R: number,
  L: number,
  scale = 1,
  accumulate = true,
): void {
  const inPlace = dinp === dout;
  const { TPR, RPW } = rowLayout(gpu, 'softmax');
  gpu.dispatch({
    op: 'softmax.bwd',
    shapes: dims`out[${R},${L}]${inPlace ? ' in place' : ''} scale=${scale}`,
    shader: 'ops/softmax.bwd',
    constants: { TPR, RPW, ACCUM: accumulate ? 1 : 0, IN_PLACE: inPlace ? 1 : 0 },
    buffers: [dinp, inPlace ? dummyBuffer(gpu) : dout, out],
    params: packParams([R, L], [scale]),
    workgroups: grid(gpu, cdiv(R, RPW)),
  });
}

/**
 * gelu: exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)) (torch default, not the tanh
 * approximation), element-wise over N values (the MLP pre-activation, N = B*T*4C).
 *   forward:  out = gelu(inp)                                  (shaders/ops/gelu.fwd.wgsl)
 *   backward: dinp += dout * (Phi(x) + x phi(x)), x = inp      (shaders/ops/gelu.bwd.wgsl)
 * The forward saves nothing: its backward needs the forward's input `inp` (keep it).
 * erf comes from shaders/common/erf.wgsl (max abs error ~6e-8); `erfForward` / `erfcForward`
 * apply it alone, for tests.
 */
import { dims, packParams, type Gpu } from '../gpu/device';
import { isF16 } from '../gpu/f16';
import { dummyBuffer, grid } from './support';

const WG = 256;

function elementwise(gpu: Gpu, op: string, entry: string, out: GPUBuffer, inp: GPUBuffer, N: number): void {
  gpu.dispatch({
    op,
    shapes: dims`inp[${N}]`,
    shader: 'ops/gelu.fwd',
    entry,
    constants: { WG },
    buffers: [out, inp],
    params: packParams([N]),
    workgroups: grid(gpu, Math.ceil(N / WG)),
  });
}

export function geluForward(gpu: Gpu, out: GPUBuffer, inp: GPUBuffer, N: number): void {
  elementwise(gpu, 'gelu.fwd', 'main', out, inp, N);
}

/**
 * dinp += dout * gelu'(inp). With `accumulate = false`, dinp = dout * gelu'(inp); then dinp may
 * be dout's own buffer (in place).
 */
export function geluBackward(
  gpu: Gpu,
  dinp: GPUBuffer,
  dout: GPUBuffer,
  inp: GPUBuffer,
  N: number,
  accumulate = true,
): void {
  const inPlace = dinp === dout;
  if (inPlace && accumulate) {
    throw new Error('gelu.bwd: in place (dinp === dout) needs accumulate = false');
  }
  gpu.dispatch({
    op: 'gelu.bwd',
    shapes: dims`inp[${N}]${inPlace ? ' in place' : ''}`,
    shader: 'ops/gelu.bwd',
    defines: { F16_INP: isF16(inp) },
    constants: { WG, ACCUM: accumulate ? 1 : 0, IN_PLACE: inPlace ? 1 : 0 },
    buffers: [dinp, inPlace ? dummyBuffer(gpu) : dout, inp],
    params: packParams([N]),
    workgroups: grid(gpu, Math.ceil(N / WG)),
  });
}

/** out = erf(inp), element-wise (the f32 erf of shaders/common/erf.wgsl). */
export function erfForward(gpu: Gpu, out: GPUBuffer, inp: GPUBuffer, N: number): void {
  elementwise(gpu, 'erf', 'erf', out, inp, N);
}

/** out = erfc(inp) = 1 - erf(inp), element-wise, accurate relative to erfc in the tail. */
export function erfcForward(gpu: Gpu, out: GPUBuffer, inp: GPUBuffer, N: number): void {
  elementwise(gpu, 'erfc', 'erfc', out, inp, N);
}

/**
 * dropout: inverted dropout with a counter-based mask (shaders/ops/dropout.wgsl).
 *   out[i] = keep(seed, i) ? inp[i] / (1 - p) : 0      (accum: out[i] += ...)
 * The mask is a pure function of (seed0, seed1, i), so the backward applies the same mask to the
 * gradient by calling this again with the same seeds (dropout is linear in its input), and a
 * gradient-cache re-forward reproduces the first forward exactly.
 */
import { cdiv, dims, packParams, type Gpu } from '../gpu/device';
import { grid } from './support';

const WG = 256;

/** keep(i) <=> hash(seed, i) >= threshold = round(p * 2^32) (the CPU reference has its own copy). */
export function dropoutThreshold(p: number): number {
  return Math.min(0xffffffff, Math.round(p * 2 ** 32));
}

export function dropoutForward(
  gpu: Gpu,
  out: GPUBuffer,
  inp: GPUBuffer,
  n: number,
  p: number,
  seed0: number,
  seed1: number,
  accum = false,
): void {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p = ${p} must be in [0, 1)`);
  gpu.dispatch({
    op: 'dropout',
    shapes: dims`x[${n}] p=${p}`,
    shader: 'ops/dropout',
    constants: { WG, ACCUM: accum ? 1 : 0 },
    buffers: [out, inp],
    params: packParams([n, seed0 >>> 0, seed1 >>> 0, dropoutThreshold(p)], [1 / (1 - p)]),
    workgroups: grid(gpu, cdiv(n, WG)),
  });
}

/**
 * adamw: the AdamW optimizer step (torch.optim.AdamW semantics: decoupled weight decay, bias
 * correction), in place on one parameter buffer (shaders/ops/adamw.wgsl):
 *   param [n], m [n], v [n]   updated in place (m, v start at zero)
 *   grad [n]                  read only
 * and sumSquares (shaders/ops/sumsquares.wgsl), out[0] += sum_i x[i]^2, for global
 * gradient-norm clipping: sum the squares of every gradient buffer into one scalar, then pass
 * it as `clip.sumSq` to each adamwUpdate (the clip factor is computed on the GPU, no readback):
 *   gpu.clear(sumSq); for (g of grads) sumSquares(gpu, sumSq, g, n);
 *   for (each param) adamwUpdate(gpu, p, m, v, g, n, { lr, weightDecay, step, clip: { sumSq, maxNorm } });
 */
import { cdiv, dims, packParams, type Gpu } from '../gpu/device';
import { dummyBuffer } from './support';

export interface AdamwHyper<Buf = GPUBuffer> {
  lr: number;
  /** 1-based step count t, for bias correction. */
  step: number;
  /** default 0.9 */
  beta1?: number;
  /** default 0.999 */
  beta2?: number;
  /** default 1e-8 */
  eps?: number;
  /** Decoupled weight decay (p *= 1 - lr * wd); default 0.01 as in torch. */
  weightDecay?: number;
  /** Multiplies the gradient before anything else (e.g. 1 / loss scale); default 1. */
  gradScale?: number;
  /**
   * Global grad-norm clipping as torch.nn.utils.clip_grad_norm_: the gradient is multiplied by
   * min(1, maxNorm / (sqrt(sumSq[0]) + 1e-6)), where sumSq holds the sum of squares of all
   * gradients (see sumSquares).
   */
  clip?: { sumSq: Buf; maxNorm: number };
}

/** Scalars of one AdamW step that depend only on the hyper-parameters, in float64. */
export function adamwScalars(hp: AdamwHyper<unknown>) {
  const beta1 = hp.beta1 ?? 0.9;
  const beta2 = hp.beta2 ?? 0.999;
  const wd = hp.weightDecay ?? 0.01;
  if (!Number.isInteger(hp.step) || hp.step < 1) {
    throw new Error(`adamw: step must be an integer >= 1 (got ${hp.step})`);
  }
  const bc1 = 1 - Math.pow(beta1, hp.step);
  const bc2 = 1 - Math.pow(beta2, hp.step);
  return {
    gradScale: hp.gradScale ?? 1,
    decay: 1 - hp.lr * wd,
    beta1,
    beta2,
    oneMinusBeta1: 1 - beta1,
    oneMinusBeta2: 1 - beta2,
    stepSize: hp.lr / bc1,
    invSqrtBc2: 1 / Math.sqrt(bc2),
    eps: hp.eps ?? 1e-8,
    maxNorm: hp.clip?.maxNorm ?? 0,
  };
}

const WG = 256;

/** One AdamW step on param/m/v (in place) from grad; all four buffers have n elements. */
export function adamwUpdate(
  gpu: Gpu,
  param: GPUBuffer,
  m: GPUBuffer,
  v: GPUBuffer,
  grad: GPUBuffer,
  n: number,
  hp: AdamwHyper,
): void {
  const s = adamwScalars(hp);
  const maxWg = gpu.device.limits.maxComputeWorkgroupsPerDimension;
  gpu.dispatch({
    op: 'adamw',
    shapes: dims`param[${n}] step ${hp.step}`,
    shader: 'ops/adamw',
    constants: { WG, HAS_CLIP: hp.clip ? 1 : 0 },
    buffers: [param, m, v, grad, hp.clip?.sumSq ?? dummyBuffer(gpu)],
    params: packParams(
      [n],
      [
        s.gradScale,
        s.decay,
        s.beta1,
        s.beta2,
        s.oneMinusBeta1,
        s.oneMinusBeta2,
        s.stepSize,
        s.invSqrtBc2,
        s.eps,
        s.maxNorm,
      ],
    ),
    workgroups: [Math.min(cdiv(n, WG), maxWg)],
  });
}

const SUMSQ_WG = 256;
/** Most partial sums of stage 1 (each workgroup loops over its grid-stride share). */
const SUMSQ_PARTIALS = 256;
const partialsBuffers = new WeakMap<Gpu, GPUBuffer>();

/** out[0] += sum_i x[i]^2 over x[n] (two-stage reduction for long x). */
export function sumSquares(gpu: Gpu, out: GPUBuffer, x: GPUBuffer, n: number): void {
  const shapes = dims`x[${n}] -> out[1]`;
  // Aim for >= 16 elements per invocation in stage 1.
  const parts = Math.min(SUMSQ_PARTIALS, cdiv(n, SUMSQ_WG * 16));
  if (parts <= 1) {
    gpu.dispatch({
      op: 'sumSquares',
      shapes,
      shader: 'ops/sumsquares',
      constants: { WG: SUMSQ_WG, SQUARE: 1, ACCUM: 1 },
      buffers: [out, x],
      params: packParams([n]),
      workgroups: [1],
    });
    return;
  }
  let partials = partialsBuffers.get(gpu);
  if (!partials) {
    partials = gpu.zeros(SUMSQ_PARTIALS, 'sumSquares partials');
    partialsBuffers.set(gpu, partials);
  }
  gpu.dispatch({
    op: 'sumSquares.partial',
    shapes,
    shader: 'ops/sumsquares',
    constants: { WG: SUMSQ_WG, SQUARE: 1, ACCUM: 0 },
    buffers: [partials, x],
    params: packParams([n]),
    workgroups: [parts],
  });
  gpu.dispatch({
    op: 'sumSquares.finish',
    shapes: dims`partials[${parts}] -> out[1]`,
    shader: 'ops/sumsquares',
    constants: { WG: SUMSQ_WG, SQUARE: 0, ACCUM: 1 },
    buffers: [out, partials],
    params: packParams([parts]),
    workgroups: [1],
  });
}

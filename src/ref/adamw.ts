/**
 * CPU reference for adamw and sumSquares, in float64. Same names and argument order as
 * src/ops/adamw.ts (param/m/v updated in place; sumSquares adds into out[0]).
 * Written as the textbook formulas (torch.optim.AdamW): p -= lr*wd*p; m = b1 m + (1-b1) g;
 * v = b2 v + (1-b2) g^2; p -= lr * mhat / (sqrt(vhat) + eps), mhat = m/(1-b1^t),
 * vhat = v/(1-b2^t); g is first multiplied by gradScale and the clip coefficient.
 */
import type { AdamwHyper } from '../ops/adamw';

/** torch.nn.utils.clip_grad_norm_ coefficient: min(1, maxNorm / (norm + 1e-6)). */
export function clipCoef(sumSq: number, maxNorm: number): number {
  return Math.min(1, maxNorm / (Math.sqrt(sumSq) + 1e-6));
}

export function adamwUpdate(
  param: Float64Array,
  m: Float64Array,
  v: Float64Array,
  grad: Float64Array,
  n: number,
  hp: AdamwHyper<Float64Array>,
): void {
  const b1 = hp.beta1 ?? 0.9;
  const b2 = hp.beta2 ?? 0.999;
  const eps = hp.eps ?? 1e-8;
  const wd = hp.weightDecay ?? 0.01;
  const t = hp.step;
  const scale = (hp.gradScale ?? 1) * (hp.clip ? clipCoef(hp.clip.sumSq[0], hp.clip.maxNorm) : 1);
  for (let i = 0; i < n; i++) {
    const g = grad[i] * scale;
    param[i] -= hp.lr * wd * param[i];
    m[i] = b1 * m[i] + (1 - b1) * g;
    v[i] = b2 * v[i] + (1 - b2) * g * g;
    const mhat = m[i] / (1 - b1 ** t);
    const vhat = v[i] / (1 - b2 ** t);
    param[i] -= (hp.lr * mhat) / (Math.sqrt(vhat) + eps);
  }
}

export function sumSquares(out: Float64Array, x: Float64Array, n: number): void {
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i] * x[i];
  out[0] += s;
}

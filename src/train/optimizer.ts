/**
 * AdamW over the trainable parameters of a Vit (src/ops/adamw.ts on the GPU), with global
 * gradient-norm clipping (torch.nn.utils.clip_grad_norm_: g *= min(1, max / (norm + 1e-6)),
 * computed on the GPU without a readback). Weight decay applies to every parameter except
 * biases and LayerNorm weights (as the issue asks; LoRA A and B are decayed like any matrix).
 */
import type { Gpu } from '../gpu/device';
import { adamwUpdate, sumSquares } from '../ops/adamw';
import type { Vit } from '../model/vit';

export interface Param {
  /** LoRA: `layer.<l>.<role>.lora_A|lora_B`; full: the weight role (`layer.0.q.w`, `prefix`...). */
  name: string;
  param: GPUBuffer;
  grad: GPUBuffer;
  n: number;
  decay: boolean;
}

/**
 * LoRA: one parameter, the adapter arena (every A and B; src/model/lora-params.ts), so AdamW and
 * the gradient norm take one dispatch each. Full fine-tuning: one per weight tensor (q|k|v packed).
 */
export function trainableParams(vit: Vit): Param[] {
  const out: Param[] = [];
  const L = vit.loras;
  if (L.P && L.dP) out.push({ name: 'lora', param: L.P, grad: L.dP, n: L.size, decay: true });
  for (const [role, grad] of vit.grads) {
    const noDecay = role.endsWith('.b') || /(^|\.)norm\d?\.w$/.test(role);
    out.push({ name: role, param: vit.w.get(role)!, grad, n: grad.size / 4, decay: !noDecay });
  }
  return out;
}

export interface AdamwOpts {
  weightDecay: number;
  /** 0 disables clipping. */
  maxGradNorm: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

export class AdamW {
  readonly m: GPUBuffer[];
  readonly v: GPUBuffer[];
  readonly sumSq: GPUBuffer;
  /** Updates done so far (the next update is step + 1, for bias correction). */
  step = 0;

  constructor(
    readonly gpu: Gpu,
    readonly params: Param[],
    readonly opts: AdamwOpts,
  ) {
    if (params.length === 0) throw new Error('AdamW: no trainable parameters');
    this.m = params.map((p) => gpu.zeros(p.n, `adam m ${p.name}`));
    this.v = params.map((p) => gpu.zeros(p.n, `adam v ${p.name}`));
    this.sumSq = gpu.zeros(1, 'grad sum of squares');
  }

  /** Records the sum of squares of all gradients into `sumSq` (also used for logging). */
  gradNormSq(): GPUBuffer {
    this.gpu.clear(this.sumSq);
    for (const p of this.params) sumSquares(this.gpu, this.sumSq, p.grad, p.n);
    return this.sumSq;
  }

  /** One update at learning rate `lr` (records the dispatches; call after the backward). */
  update(lr: number): void {
    this.gradNormSq();
    this.step++;
    const o = this.opts;
    this.params.forEach((p, i) => {
      adamwUpdate(this.gpu, p.param, this.m[i], this.v[i], p.grad, p.n, {
        lr,
        step: this.step,
        beta1: o.beta1,
        beta2: o.beta2,
        eps: o.eps,
        weightDecay: p.decay ? o.weightDecay : 0,
        clip: o.maxGradNorm > 0 ? { sumSq: this.sumSq, maxNorm: o.maxGradNorm } : undefined,
      });
    });
  }

  destroy(): void {
    for (const b of [...this.m, ...this.v, this.sumSq]) b.destroy();
  }
}

/**
 * LoRA training row (bench/model/models.ts TRAIN_BENCHES): images/s of one optimizer step of
 * DINOv3 ViT-S/16 at 224 x 224 on 8 (query, positive) pairs, on the page's WebGPU adapter.
 * One iteration = `vit.zeroGrads()` + `TrainStep.run` (src/train/step.ts; direct mode, chunk
 * Infinity: both sides forward with saved activations, InfoNCE with labels null, backward) +
 * `AdamW.update` (src/train/optimizer.ts: gradient-norm clip 1.0, weight decay 0.01), exactly as
 * src/train/trainer.ts records a step (without its loss readback).
 *   query, positive pixels [8, 3, 224, 224] -> embeddings [8, 384] each -> loss [1]
 *   LoRA on q and v of all 12 layers: A [16, 384], B [384, 16], s = 32 / 16, dropout 0.05
 * Weights: the seeded random base of the embed row (models.ts `randomWeights`, frozen), LoRA A
 * PEFT Kaiming-uniform U(-1/sqrt(384), 1/sqrt(384)), B zero; pixels seeded uniform in [-2, 2).
 * `items` = 16 images: a step embeds and back-propagates 8 queries + 8 positives (the trainer's
 * images/s counts the same 2 * B). FLOPs: `trainLoraFlops` (~2.1x the forward of 16 images:
 * frozen base, no weight gradients; see models.ts).
 * One step takes minutes on SwiftShader (about 2x the embed of 16 images), so the harness does
 * one warm-up and one timed step. Peer: none in the page; bench/run.ts adds the PyTorch CPU row
 * (tools/bench_torch_cpu.py --train) after the browser closes.
 */
import { parseModelConfig } from '../../src/model/config';
import { Vit } from '../../src/model/vit';
import { AdamW, trainableParams } from '../../src/train/optimizer';
import { mixSeed, TrainStep, type Batch } from '../../src/train/step';
import { Rng } from '../../src/util/random';
import type { BenchEntry } from '../types';
import { randomF32 } from '../util';
import { randomWeights, TRAIN_BENCHES, trainLoraFlops, type TrainBench } from './models';

/** The training row of `t` (also timed by tools/gpu-bench at batch 128 with gradient caching). */
export function trainEntry(t: TrainBench): BenchEntry {
  const m = t.model;
  const B = t.pairs,
    S = m.image;
  return {
    op: t.op,
    shape: t.shape,
    flops: trainLoraFlops(t),
    items: 2 * B,
    quick: false,
    heavy: false,
    setup(gpu) {
      const vit = new Vit(gpu, parseModelConfig(m.config), randomWeights(m));
      const { r, alpha, dropout, targets } = t.lora;
      const C = vit.spec.hidden;
      for (let l = 0; l < vit.spec.layers; l++) {
        for (const role of targets) {
          // PEFT init: A ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B = 0
          const rng = new Rng(mixSeed(11, l, role === 'q' ? 0 : 2));
          const bound = 1 / Math.sqrt(C);
          const A = Float32Array.from({ length: r * C }, () => rng.uniform(-bound, bound));
          vit.addLora(l, role, r, alpha / r, dropout, A, new Float32Array(C * r), true);
        }
      }
      const opt = new AdamW(gpu, trainableParams(vit), { weightDecay: t.weightDecay, maxGradNorm: t.maxGradNorm });
      const step = new TrainStep(
        vit,
        { type: 'infonce', temperature: t.temperature, bidirectional: false, tripletMargin: 0.5, cosentScale: 20 },
        t.chunk ?? Infinity,
      );
      const n = B * 3 * S * S;
      const batch: Batch = {
        query: randomF32(n, 7).map((v) => 2 * v),
        positive: randomF32(n, 8).map((v) => 2 * v),
        labels: null,
        B,
        H: S,
        W: S,
      };
      let k = 0;
      let loss: GPUBuffer | null = null;
      return {
        run() {
          vit.zeroGrads();
          loss = step.run(batch, mixSeed(0xd40, k++));
          opt.update(t.lr);
        },
        async check() {
          // InfoNCE over B pairs: finite and positive (about log B at the start).
          const [l] = await gpu.read(loss!, 1);
          return Number.isFinite(l) && l > 0 ? null : `loss ${l} (want a finite positive value)`;
        },
        dispose() {
          step.destroy();
          opt.destroy();
          vit.destroy();
        },
      };
    },
  };
}

export const entries: BenchEntry[] = TRAIN_BENCHES.map(trainEntry);

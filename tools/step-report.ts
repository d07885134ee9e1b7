/**
 * What one training step costs, measured without running it: peak GPU memory (every storage
 * buffer the trainer allocates, Gpu.memory) and the dispatches it records (gpu.dispatchCount, per
 * op), with dispatches switched off (gpu.dryRun), so a ViT-B/16 step at batch 128 can be sized on a
 * machine without a GPU. Used by tools/memory-report.ts (the command line) and the bench rows
 * train.dispatches / train.memory (bench/train-step-node.ts).
 *
 * path 'gpu' counts the kernels a GPU adapter gets by default (`gpu.defaults` 'gpu': fused 'flash'
 * attention, LoRA inside the LayerNorm, workgroup-per-row LayerNorm, tiled matmul, LayerScale and
 * GELU' folded into the backward GEMMs) even on SwiftShader; 'adapter' whatever this adapter picks
 * (on SwiftShader: the software variants).
 */
import type { Gpu } from '../src/gpu/device';
import { parseModelConfig } from '../src/model/config';
import { Vit } from '../src/model/vit';
import { expectedTensors } from '../src/model/weights';
import { AdamW, trainableParams } from '../src/train/optimizer';
import { TrainStep } from '../src/train/step';

export const STEP_MODELS: Record<string, object> = {
  s16: {
    model_type: 'dinov3_vit',
    hidden_size: 384,
    intermediate_size: 1536,
    num_attention_heads: 6,
    num_hidden_layers: 12,
    num_register_tokens: 4,
  },
  b16: {
    model_type: 'dinov3_vit',
    hidden_size: 768,
    intermediate_size: 3072,
    num_attention_heads: 12,
    num_hidden_layers: 12,
    num_register_tokens: 4,
  },
};

export interface StepReportOptions {
  model: 's16' | 'b16';
  batch: number;
  /** Gradient-cache chunk (Infinity: none). */
  chunk: number;
  /** LoRA r16 on q, v of every layer (dropout 0.05), else full fine-tuning. */
  lora: boolean;
  path: 'gpu' | 'adapter';
  fp16?: boolean;
}

export interface StepReport {
  describe: string;
  weightBytes: number;
  paramBytes: number;
  peakBytes: number;
  dispatches: number;
  perOp: [string, number][];
}

export function stepReport(gpu: Gpu, o: StepReportOptions): StepReport {
  const spec = parseModelConfig(STEP_MODELS[o.model]);
  const defaults = gpu.defaults;
  gpu.dryRun = true;
  if (o.path === 'gpu') gpu.defaults = 'gpu';
  const live0 = gpu.memory.live;
  const weights = new Map(
    expectedTensors(spec)
      .filter((t) => !t.optional)
      .map((t) => [t.role, new Float32Array(t.shape.reduce((a, d) => a * d, 1))]),
  );
  const vit = new Vit(gpu, spec, weights, o.fp16 ? { f16: o.lora ? 'weights+acts' : 'acts' } : {});
  const wBytes = gpu.memory.live - live0;
  if (o.lora) {
    for (let l = 0; l < spec.layers; l++)
      for (const role of ['q', 'v'] as const)
        vit.addLora(l, role, 16, 2, 0.05, new Float32Array(16 * spec.hidden), new Float32Array(16 * spec.hidden), true);
  } else vit.enableFullGrads();
  const opt = new AdamW(gpu, trainableParams(vit), { weightDecay: 0.01, maxGradNorm: 1 });
  const paramBytes = gpu.memory.live - live0 - wBytes;
  const step = new TrainStep(
    vit,
    { type: 'infonce', temperature: 0.05, bidirectional: false, tripletMargin: 0.5, cosentScale: 20 },
    o.chunk,
  );
  const px = new Float32Array(o.batch * 3 * 224 * 224);
  gpu.resetPeak();
  gpu.resetCounts();
  step.run({ query: px, positive: px, labels: null, B: o.batch, H: 224, W: 224 }, 1);
  opt.update(1e-4);
  const report: StepReport = {
    describe:
      `ViT-${o.model.toUpperCase()} ${o.lora ? 'LoRA r16 (q,v)' : 'full fine-tuning'} step, batch ${o.batch}, 224x224, ` +
      `${Number.isFinite(o.chunk) ? `gradient cache chunk ${o.chunk}` : 'no gradient cache'}${o.fp16 ? ', fp16 storage' : ''}`,
    weightBytes: wBytes,
    paramBytes,
    peakBytes: gpu.memory.peak - live0,
    dispatches: gpu.dispatchCount,
    perOp: [...gpu.dispatchCounts].sort((a, b) => b[1] - a[1]),
  };
  step.destroy();
  opt.destroy();
  vit.destroy();
  gpu.dryRun = false;
  gpu.defaults = defaults;
  return report;
}

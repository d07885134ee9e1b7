/**
 * Ten LoRA AdamW steps (infonce with labels, cosine schedule with 1 warmup step, lr 1e-3,
 * weight decay 0.01, clipping at 1.0) give PyTorch's loss curve within 1e-3, the same learning
 * rates and pre-clip gradient norms, and the same final LoRA weights.
 */
import { readFileSync } from 'node:fs';
import { afterAll, expect, test } from 'vitest';
import { SafetensorsFile } from '../../src/io/safetensors';
import { loadCheckpoint } from '../../src/model/load';
import { modulePaths } from '../../src/model/lora';
import { dirSource } from '../../src/platform/file-source-node';
import { Vit } from '../../src/model/vit';
import { AdamW, trainableParams } from '../../src/train/optimizer';
import { lrMultiplier, warmupFor } from '../../src/train/schedule';
import { TrainStep } from '../../src/train/step';
import { expectClose } from '../helpers/check';
import { nodeGpu } from '../helpers/node-gpu';

afterAll(async () => (await nodeGpu()).destroy());

for (const name of ['dinov3-tiny', 'dinov2-tiny']) {
  test(`${name}: 10 AdamW steps match PyTorch`, async () => {
    const fx = SafetensorsFile.parse(readFileSync(`tests/fixtures/train/${name}.safetensors`));
    const hp = JSON.parse(fx.metadata.adamw) as {
      lr: number;
      weight_decay: number;
      max_grad_norm: number;
      steps: number;
      warmup_steps: number;
    };
    const cfg = JSON.parse(fx.metadata['lora.config']) as { r: number; scaling: number };
    const ck = await loadCheckpoint(dirSource(`tests/fixtures/models/${name}`));
    const vit = new Vit(await nodeGpu(), ck.spec, ck.weights);
    const paths = [...modulePaths(ck.spec)].filter(([p]) => fx.has(`lora_init.base_model.model.${p}.lora_A.weight`));
    for (const [p, { layer, role }] of paths) {
      const k = `lora_init.base_model.model.${p}`;
      vit.addLora(layer, role, cfg.r, cfg.scaling, 0, fx.f32(`${k}.lora_A.weight`), fx.f32(`${k}.lora_B.weight`), true);
    }
    const opt = new AdamW(vit.gpu, trainableParams(vit), {
      weightDecay: hp.weight_decay,
      maxGradNorm: hp.max_grad_norm,
    });
    const step = new TrainStep(
      vit,
      { type: 'infonce', temperature: 0.05, bidirectional: false, tripletMargin: 0.5, cosentScale: 20 },
      Infinity,
    );
    const [B, , H, W] = fx.info('batch.query').shape;
    const batch = {
      query: fx.f32('batch.query'),
      positive: fx.f32('batch.positive'),
      labels: Uint32Array.from(fx.i64('batch.labels'), Number),
      B,
      H,
      W,
    };
    const warm = warmupFor(0, 0.1, hp.steps);
    expect(warm).toBe(hp.warmup_steps);
    const losses: number[] = [],
      lrs: number[] = [],
      norms: number[] = [];
    for (let i = 0; i < hp.steps; i++) {
      vit.zeroGrads();
      const loss = step.run(batch, null);
      const lr = hp.lr * lrMultiplier('cosine', i, warm, hp.steps);
      opt.update(lr);
      losses.push((await vit.gpu.read(loss, 1))[0]);
      norms.push(Math.sqrt((await vit.gpu.read(opt.sumSq, 1))[0]));
      lrs.push(lr);
    }
    expectClose(losses, fx.f32('adamw.losses'), { atol: 1e-3, rtol: 0 }, 'loss curve');
    expectClose(lrs, fx.f32('adamw.lrs'), { atol: 1e-9, rtol: 1e-6 }, 'learning rates');
    expectClose(norms, fx.f32('adamw.grad_norms'), { atol: 1e-5, rtol: 1e-3 }, 'pre-clip gradient norms');
    // Final weights: Adam divides each gradient by its own RMS, so an element whose gradient is ~0
    // in float64 moves by up to ~lr per step in a direction set by f32 rounding noise; 2e-3
    // (two full steps at lr 1e-3) bounds that, while real divergence would show in the loss curve.
    for (const [p, { layer, role }] of paths) {
      const m = vit.lora.get(`layer.${layer}.${role}`)!;
      const k = `adamw.final.base_model.model.${p}`;
      const { A, B } = await vit.loras.read(m);
      expectClose(A, fx.f32(`${k}.lora_A.weight`), { atol: 2e-3, rtol: 1e-3 }, `${k}.lora_A`);
      expectClose(B, fx.f32(`${k}.lora_B.weight`), { atol: 2e-3, rtol: 1e-3 }, `${k}.lora_B`);
    }
    step.destroy();
    opt.destroy();
    vit.destroy();
  });
}

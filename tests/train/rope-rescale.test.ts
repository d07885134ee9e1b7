/**
 * DINOv3 train-time RoPE coordinate rescale (HF training mode, docs/model.md#rope-rescale): with the patch
 * coordinates scaled by s, embeddings match the PyTorch reference with the same s
 * (tools/gen_rope_rescale_fixture.py), and a training step with s gives the same gradients
 * direct and gradient-cached (the re-forward uses the same s).
 */
import { readFileSync } from 'node:fs';
import { afterAll, expect, test } from 'vitest';
import { SafetensorsFile } from '../../src/io/safetensors';
import { loadCheckpoint } from '../../src/model/load';
import { dirSource } from '../../src/platform/file-source-node';
import { Vit } from '../../src/model/vit';
import { TrainStep } from '../../src/train/step';
import { expectClose } from '../helpers/check';
import { nodeGpu } from '../helpers/node-gpu';

afterAll(async () => (await nodeGpu()).destroy());

test('embeddings with scaled RoPE coordinates match PyTorch (atol 1e-5)', async () => {
  const fx = SafetensorsFile.parse(readFileSync('tests/fixtures/train/rope-rescale.safetensors'));
  const batch = SafetensorsFile.parse(readFileSync('tests/fixtures/train/dinov3-tiny.safetensors'));
  const ck = await loadCheckpoint(dirSource('tests/fixtures/models/dinov3-tiny'));
  const gpu = await nodeGpu();
  const vit = new Vit(gpu, ck.spec, ck.weights);
  const [B, , H, W] = batch.info('batch.query').shape;
  const px = gpu.upload(batch.f32('batch.query'));
  const acts = vit.allocActs(B, vit.grid(H, W), false);
  for (const id of ['s0', 's1', 's2']) {
    const s = fx.f32(`${id}.scale`)[0];
    vit.forwardInto(acts, px, H, W, null, s);
    expectClose(
      await gpu.read(acts.emb, B * ck.spec.hidden),
      fx.f32(`${id}.embedding`),
      { atol: 1e-5, rtol: 0 },
      `scale ${s}`,
    );
  }
  vit.forwardInto(acts, px, H, W, null, 1);
  const plain = await gpu.read(acts.emb, B * ck.spec.hidden);
  expect(plain.some((v, i) => Math.abs(v - fx.f32('s1.embedding')[i]) > 1e-3)).toBe(true); // the scale matters
  Vit.freeActs(acts);
  vit.destroy();
});

test('a rescaled step gives the same LoRA gradients direct and gradient-cached', async () => {
  const fx = SafetensorsFile.parse(readFileSync('tests/fixtures/train/dinov3-tiny.safetensors'));
  const ck = await loadCheckpoint(dirSource('tests/fixtures/models/dinov3-tiny'));
  const vit = new Vit(await nodeGpu(), ck.spec, ck.weights);
  const m = vit.addLora(
    0,
    'q',
    4,
    2,
    0,
    fx.f32('lora_init.base_model.model.layer.0.attention.q_proj.lora_A.weight'),
    fx.f32('lora_init.base_model.model.layer.0.attention.q_proj.lora_B.weight'),
    true,
  );
  const [B, , H, W] = fx.info('batch.query').shape;
  const batch = { query: fx.f32('batch.query'), positive: fx.f32('batch.positive'), labels: null, B, H, W };
  const grads: Float32Array[] = [];
  for (const chunk of [Infinity, 4]) {
    vit.zeroGrads();
    const step = new TrainStep(
      vit,
      { type: 'infonce', temperature: 0.05, bidirectional: false, tripletMargin: 0.5, cosentScale: 20 },
      chunk,
    );
    step.run(batch, null, 1.37);
    grads.push((await vit.loras.read(m, 'dP')).A);
    step.destroy();
  }
  expectClose(grads[1], grads[0], { atol: 1e-6, rtol: 1e-4 }, 'dA cached vs direct');
  vit.destroy();
});

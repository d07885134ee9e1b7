/**
 * Training parity with PyTorch (tools/gen_train_fixtures.py), both families:
 *  - loss, embeddings and every LoRA gradient for infonce (plain, labels, bidirectional),
 *    triplet and cosent, within atol 1e-5 + rtol 1e-3;
 *  - the gradient-cached step (chunks of 4 of a batch of 6) gives the same gradients;
 *  - full fine-tuning gradients of every parameter (DINOv2 also through the resized position table).
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, test } from 'vitest';
import { SafetensorsFile } from '../../src/io/safetensors';
import { loadCheckpoint } from '../../src/model/load';
import { modulePaths } from '../../src/model/lora';
import { dirSource } from '../../src/platform/file-source-node';
import { Vit } from '../../src/model/vit';
import { expectedTensors } from '../../src/model/weights';
import type { LossOpts } from '../../src/train/losses';
import { TrainStep, type Batch } from '../../src/train/step';
import { expectClose } from '../helpers/check';
import { nodeGpu } from '../helpers/node-gpu';

const TOL = { atol: 1e-5, rtol: 1e-3 };

afterAll(async () => (await nodeGpu()).destroy());

const VARIANTS: Record<string, Partial<LossOpts>> = {
  infonce: { type: 'infonce' },
  infonce_labels: { type: 'infonce' },
  infonce_bidir: { type: 'infonce', bidirectional: true },
  triplet: { type: 'triplet' },
  cosent: { type: 'cosent' },
};

function lossOpts(v: Partial<LossOpts>): LossOpts {
  return { type: 'infonce', temperature: 0.05, bidirectional: false, tripletMargin: 0.5, cosentScale: 20, ...v };
}

for (const name of ['dinov3-tiny', 'dinov2-tiny']) {
  describe(name, () => {
    const fx = SafetensorsFile.parse(readFileSync(`tests/fixtures/train/${name}.safetensors`), `${name}.safetensors`);
    const cfg = JSON.parse(fx.metadata['lora.config']) as { r: number; scaling: number };
    const labels = Uint32Array.from(fx.i64('batch.labels'), Number);
    const batchOf = (q: string, p: string, withLabels: boolean): Batch => {
      const [B, , H, W] = fx.info(q).shape;
      return { query: fx.f32(q), positive: fx.f32(p), labels: withLabels ? labels : null, B, H, W };
    };
    const model = async (withLora: boolean) => {
      const ck = await loadCheckpoint(dirSource(`tests/fixtures/models/${name}`));
      const vit = new Vit(await nodeGpu(), ck.spec, ck.weights);
      if (withLora) {
        for (const [path, { layer, role }] of modulePaths(ck.spec)) {
          const k = `lora_init.base_model.model.${path}`;
          if (!fx.has(`${k}.lora_A.weight`)) continue;
          vit.addLora(
            layer,
            role,
            cfg.r,
            cfg.scaling,
            0,
            fx.f32(`${k}.lora_A.weight`),
            fx.f32(`${k}.lora_B.weight`),
            true,
          );
        }
      }
      return vit;
    };
    const loraGrads = async (vit: Vit, prefix: string) => {
      const paths = modulePaths(vit.spec);
      for (const [path, { layer, role }] of paths) {
        const m = vit.lora.get(`layer.${layer}.${role}`);
        if (!m) continue;
        const k = `${prefix}.base_model.model.${path}`;
        const d = await vit.loras.read(m, 'dP');
        expectClose(d.A, fx.f32(`${k}.lora_A.weight`), TOL, `${k}.lora_A`);
        expectClose(d.B, fx.f32(`${k}.lora_B.weight`), TOL, `${k}.lora_B`);
      }
    };

    for (const [variant, opts] of Object.entries(VARIANTS)) {
      test(`LoRA ${variant}: loss and gradients (direct and gradient-cached)`, async () => {
        const vit = await model(true);
        const withLabels = variant === 'infonce_labels' || variant === 'triplet' || variant === 'cosent';
        const batch = batchOf('batch.query', 'batch.positive', withLabels);
        for (const chunk of [Infinity, 4]) {
          vit.zeroGrads();
          const step = new TrainStep(vit, lossOpts(opts), chunk);
          const loss = step.run(batch, null);
          expectClose(await vit.gpu.read(loss, 1), fx.f32(`${variant}.loss`), TOL, `${variant} loss (chunk ${chunk})`);
          await loraGrads(vit, `${variant}.grad`);
          step.destroy();
        }
        vit.destroy();
      });
    }

    const fullCases = name === 'dinov2-tiny' ? ['full', 'full_interp'] : ['full'];
    for (const fc of fullCases) {
      test(`full fine-tuning gradients (${fc})`, async () => {
        const vit = await model(false);
        vit.enableFullGrads();
        vit.zeroGrads();
        const px =
          fc === 'full' && fx.has('full.query') ? ['full.query', 'full.positive'] : ['batch.query', 'batch.positive'];
        const step = new TrainStep(vit, lossOpts({ type: 'infonce' }), Infinity);
        const loss = step.run(batchOf(px[0], px[1], true), null);
        expectClose(await vit.gpu.read(loss, 1), fx.f32(`${fc}.loss`), TOL, `${fc} loss`);
        const C = vit.spec.hidden;
        const prefix = await vit.gpu.read(vit.grads.get('prefix')!);
        let checked = 0;
        for (const t of expectedTensors(vit.spec)) {
          const key = `${fc}.grad.${t.key}`;
          if (!fx.has(key)) continue;
          let got: Float32Array;
          if (t.role === 'cls') got = prefix.subarray(0, C);
          else if (t.role === 'reg') got = prefix.subarray(C, C + vit.spec.registers * C);
          else got = (await vit.readWeight(t.role, true))!;
          expectClose(got, fx.f32(key), TOL, key);
          checked++;
        }
        expect(checked).toBe([...fx.tensors.keys()].filter((k) => k.startsWith(`${fc}.grad.`)).length);
        step.destroy();
        vit.destroy();
      });
    }
  });
}

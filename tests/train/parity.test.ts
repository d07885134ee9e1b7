/**
 * Training parity with PyTorch (tools/gen_train_fixtures.py), both families:
 *  - loss, embeddings and every LoRA gradient for infonce (plain, labels, bidirectional),
 *    triplet and cosent, within atol 1e-5 + rtol 1e-3;
 *  - the gradient-cached step (chunks of 4 of a batch of 6) gives the same gradients;
 *  - full fine-tuning gradients of every parameter (DINOv2 also through the resized position table);
 *  - the GPU path (`gpu.defaults` 'gpu': every kernel a GPU adapter runs by default, here on
 *    SwiftShader) matches PyTorch too, for LoRA (direct and gradient-cached) and full fine-tuning:
 *    workgroup-tiled GEMMs (tiled_128x64), flash attention at a GPU tile size (64 keys), row
 *    kernels with a workgroup per row, the adapters after a LayerNorm (q|k|v, fc1) inside the
 *    LayerNorm kernels (ops/layernorm.ts lnLoraFused) and LayerScale and GELU' folded into the
 *    backward GEMMs (model/vit-backward.ts `vitbwd`); software adapters run register-tiled GEMMs,
 *    the 'matmul' attention, a row per invocation, the adapters as GEMMs and the backward as
 *    passes. With LoRA dropout both paths give the same loss and gradients (same masks).
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
import { defaultMatmulVariant } from '../../src/ops/matmul-kernels';
import { withDefaults } from '../helpers/cases';
import { expectClose } from '../helpers/check';
import { nodeGpu } from '../helpers/node-gpu';
import { Rng } from '../../src/util/random';

const TOL = { atol: 1e-5, rtol: 1e-3 };

afterAll(async () => (await nodeGpu()).destroy());

const VARIANTS: Record<string, Partial<LossOpts>> = {
  infonce: { type: 'infonce' },
  infonce_labels: { type: 'infonce' },
  infonce_bidir: { type: 'infonce', bidirectional: true },
  triplet: { type: 'triplet' },
  cosent: { type: 'cosent' },
};

/** The kernels of software adapters (this machine's default) and those of GPUs (`gpu.defaults`). */
const PATHS = ['software', 'gpu'] as const;

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

    test('LoRA infonce through the GPU path (every kernel a GPU runs by default): loss and gradients', async () => {
      const vit = await model(true);
      await withDefaults(vit.gpu, 'gpu', async () => {
        for (const chunk of [Infinity, 4]) {
          vit.zeroGrads();
          vit.gpu.resetCounts();
          const step = new TrainStep(vit, lossOpts({ type: 'infonce' }), chunk);
          const loss = step.run(batchOf('batch.query', 'batch.positive', false), null);
          expectClose(await vit.gpu.read(loss, 1), fx.f32('infonce.loss'), TOL, `GPU path loss (chunk ${chunk})`);
          await loraGrads(vit, 'infonce.grad');
          step.destroy();
          // the GPU kernels ran: flash attention, and the tiled GEMM is the matmul default
          const ops = [...vit.gpu.dispatchCounts.keys()];
          for (const op of ['attention.fwd', 'attention.bwd.dq', 'attention.bwd.dkdv'])
            expect(ops, `chunk ${chunk}`).toContain(op);
          expect(defaultMatmulVariant(vit.gpu)).toBe('tiled_128x64');
        }
      });
      vit.destroy();
    });

    test('batches of several sizes through one step (skipped images): as a fresh step each, and no memory growth', async () => {
      const vit = await model(true);
      const full = batchOf('batch.query', 'batch.positive', false);
      const img = 3 * full.H * full.W;
      const first = (b: number): Batch => ({
        ...full,
        B: b,
        query: full.query.subarray(0, b * img),
        positive: full.positive.subarray(0, b * img),
      });
      const sizes = [full.B, full.B - 1, full.B, full.B - 2, full.B - 1];
      for (const chunk of [Infinity, 3]) {
        const shared = new TrainStep(vit, lossOpts({ type: 'infonce' }), chunk);
        let live = 0;
        for (const [i, b] of sizes.entries()) {
          const grads = async (step: TrainStep) => {
            vit.zeroGrads();
            const loss = await vit.gpu.read(step.run(first(b), null), 1);
            const m = vit.lora.get('layer.0.q')!;
            const d = await vit.loras.read(m, 'dP');
            return { loss, A: d.A, B: d.B };
          };
          const got = await grads(shared);
          if (i === 0) live = vit.gpu.memory.live;
          else if (vit.gpu.memory.live > live) {
            throw new Error(`chunk ${chunk}, batch ${b}: GPU memory grew from ${live} to ${vit.gpu.memory.live} bytes`);
          }
          const fresh = new TrainStep(vit, lossOpts({ type: 'infonce' }), chunk);
          const want = await grads(fresh);
          fresh.destroy();
          const what = `chunk ${chunk}, batch ${b} after ${sizes.slice(0, i).join(',') || 'none'}`;
          expectClose(got.loss, want.loss, { atol: 0, rtol: 0 }, `${what}: loss`);
          expectClose(got.A, want.A, { atol: 0, rtol: 0 }, `${what}: dA`);
          expectClose(got.B, want.B, { atol: 0, rtol: 0 }, `${what}: dB`);
        }
        shared.destroy();
      }
      vit.destroy();
    });

    test('with LoRA dropout on q, v, o, fc1, fc2: the GPU and software paths give the same loss and gradients', async () => {
      const ck = await loadCheckpoint(dirSource(`tests/fixtures/models/${name}`));
      const vit = new Vit(await nodeGpu(), ck.spec, ck.weights);
      const rng = new Rng(7);
      const C = vit.spec.hidden,
        I = vit.spec.intermediate;
      const dims = { q: [C, C], v: [C, C], o: [C, C], fc1: [C, I], fc2: [I, C] } as const;
      for (let l = 0; l < vit.spec.layers; l++) {
        for (const [role, [inF, outF]] of Object.entries(dims)) {
          const A = Float32Array.from({ length: 4 * inF }, () => rng.uniform(-0.3, 0.3));
          const Bm = Float32Array.from({ length: outF * 4 }, () => rng.uniform(-0.1, 0.1));
          vit.addLora(l, role as keyof typeof dims, 4, 2, 0.1, A, Bm, true);
        }
      }
      const batch = batchOf('batch.query', 'batch.positive', false);
      const run = (path: (typeof PATHS)[number]) =>
        withDefaults(vit.gpu, path, async () => {
          vit.zeroGrads();
          const step = new TrainStep(vit, lossOpts({ type: 'infonce' }), 4);
          const loss = await vit.gpu.read(step.run(batch, 1234), 1);
          const grads = new Map<string, Float32Array>();
          for (const [key, m] of vit.lora) {
            const d = await vit.loras.read(m, 'dP');
            grads.set(`${key}.A`, d.A);
            grads.set(`${key}.B`, d.B);
          }
          step.destroy();
          return { loss, grads };
        });
      const gpuPath = await run('gpu');
      const software = await run('software');
      expectClose(software.loss, gpuPath.loss, TOL, 'loss');
      expect(software.grads.size).toBe(vit.spec.layers * 5 * 2);
      for (const [k, g] of gpuPath.grads) expectClose(software.grads.get(k)!, g, TOL, k);
      vit.destroy();
    });

    const fullCases = name === 'dinov2-tiny' ? ['full', 'full_interp'] : ['full'];
    for (const fc of fullCases) {
      test(`full fine-tuning gradients (${fc}), software and GPU paths`, async () => {
        const vit = await model(false);
        vit.enableFullGrads();
        for (const path of PATHS) {
          await withDefaults(vit.gpu, path, async () => {
            vit.zeroGrads();
            const px =
              fc === 'full' && fx.has('full.query')
                ? ['full.query', 'full.positive']
                : ['batch.query', 'batch.positive'];
            const step = new TrainStep(vit, lossOpts({ type: 'infonce' }), Infinity);
            const loss = step.run(batchOf(px[0], px[1], true), null);
            expectClose(await vit.gpu.read(loss, 1), fx.f32(`${fc}.loss`), TOL, `${fc} loss (${path} path)`);
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
              expectClose(got, fx.f32(key), TOL, `${key} (${path} path)`);
              checked++;
            }
            expect(checked).toBe([...fx.tensors.keys()].filter((k) => k.startsWith(`${fc}.grad.`)).length);
            step.destroy();
          });
        }
        vit.destroy();
      });
    }
  });
}

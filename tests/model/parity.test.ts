/**
 * Forward parity with the PyTorch reference (tools/gen_model_fixtures.py): last_hidden_state and
 * pooler_output within atol 1e-4 for DINOv3 (F32 and BF16 checkpoints) and DINOv2, at several
 * input sizes (square, non-square, leftover pixels), batch 1 and 2.
 * The fp16 path (packed-f16 frozen weights and activations, f32 arithmetic; Vit option f16
 * 'weights+acts') against the same f32 reference: within F16_TOL, stated below; each rounding to
 * f16 is 2^-11 relative, and the fixture's activations are O(1).
 * Both paths of kernels (`gpu.defaults`): the software adapters' (this machine's), and the GPU
 * path every GPU adapter runs (tiled GEMMs, flash attention at a GPU tile size, a workgroup per
 * row), f32 and fp16, on the first two inputs of each model.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { SafetensorsFile } from '../../src/io/safetensors';
import { loadCheckpoint } from '../../src/model/load';
import { dirSource } from '../../src/platform/file-source-node';
import { Vit } from '../../src/model/vit';
import { readFileSync } from 'node:fs';
import { expectClose, maxAbsDiff } from '../helpers/check';
import { nodeGpu } from '../helpers/node-gpu';
import { withDefaults } from '../helpers/cases';
import type { Gpu } from '../../src/gpu/device';

const TOL = { atol: 1e-4, rtol: 0 };
const F16_TOL = { atol: 1e-2, rtol: 1e-2 }; // measured: max |diff| 4.7e-3 / 6.3e-3 (DINOv3, software / GPU path), 2.2e-3 / 2.0e-3 (DINOv2)
const FIX = 'tests/fixtures/models';

afterAll(async () => (await nodeGpu()).destroy());

const RUNS: [string, boolean, Gpu['defaults']][] = [
  ['dinov3-tiny', false, 'software'],
  ['dinov3-tiny-bf16', false, 'software'],
  ['dinov2-tiny', false, 'software'],
  ['dinov3-tiny', true, 'software'],
  ['dinov2-tiny', true, 'software'],
  ['dinov3-tiny', false, 'gpu'],
  ['dinov2-tiny', false, 'gpu'],
  ['dinov3-tiny', true, 'gpu'],
  ['dinov2-tiny', true, 'gpu'],
];

for (const [name, f16, path] of RUNS) {
  describe(`${name}${f16 ? ' fp16 storage' : ''}${path === 'gpu' ? ', GPU path' : ''}`, () => {
    const cases = SafetensorsFile.parse(readFileSync(`${FIX}/${name}/cases.safetensors`), `${name}/cases.safetensors`);
    const ids = [...cases.tensors.keys()].filter((k) => k.endsWith('.pixel_values')).map((k) => k.split('.')[0]);
    let vit: Vit | null = null;
    const model = async () => {
      if (!vit) {
        const ck = await loadCheckpoint(dirSource(`${FIX}/${name}`));
        vit = new Vit(await nodeGpu(), ck.spec, ck.weights, f16 ? { f16: 'weights+acts' } : {});
      }
      return vit;
    };
    const tol = f16 ? F16_TOL : TOL;
    for (const id of f16 || path === 'gpu' ? ids.slice(0, 2) : ids) {
      const [B, , Hi, Wi] = cases.info(`${id}.pixel_values`).shape;
      test(`${id}: B=${B} ${Hi}x${Wi}`, async () => {
        const m = await model();
        const gpu = m.gpu;
        const px = gpu.upload(cases.f32(`${id}.pixel_values`));
        const { hidden, pooled, grid } = await withDefaults(gpu, path, async () => m.forward(px, B, Hi, Wi));
        const refH = cases.f32(`${id}.last_hidden_state`);
        expect(cases.info(`${id}.last_hidden_state`).shape).toEqual([B, grid.T, m.spec.hidden]);
        const gotH = await gpu.read(hidden, refH.length);
        const gotP = await gpu.read(pooled, B * m.spec.hidden);
        console.log(
          `${name}${f16 ? ' fp16' : ''} ${path} path ${id}: max |diff| hidden ${maxAbsDiff(gotH, refH).toExponential(2)}`,
        );
        expectClose(gotH, refH, tol, `${name} ${id} last_hidden_state`);
        expectClose(gotP, cases.f32(`${id}.pooler_output`), tol, `${name} ${id} pooler_output`);
        px.destroy();
      });
    }
  });
}

/**
 * tools/step-report.ts (the memory report and the train.dispatches / train.memory bench rows):
 * path 'gpu' counts the kernels a GPU adapter runs by default (`gpu.defaults`), here on
 * SwiftShader, and path 'adapter' this adapter's own; the device's defaults are left as they were.
 */
import { afterAll, expect, test } from 'vitest';
import { stepReport } from '../../tools/step-report';
import { nodeGpu } from '../helpers/node-gpu';

afterAll(async () => (await nodeGpu()).destroy());

test("step report: path 'gpu' counts the GPU kernels, path 'adapter' the software ones", async () => {
  const gpu = await nodeGpu();
  expect(gpu.defaults).toBe('software');
  const opts = { model: 's16', batch: 2, chunk: Infinity, lora: true } as const;
  const onGpu = stepReport(gpu, { ...opts, path: 'gpu' });
  expect(gpu.defaults).toBe('software');
  const here = stepReport(gpu, { ...opts, path: 'adapter' });
  const ops = (r: typeof onGpu) => new Map(r.perOp);
  const g = ops(onGpu),
    s = ops(here);
  // flash attention (1 forward, 2 backward kernels per layer) on GPUs, the 'matmul' variant here
  expect(g.get('attention.fwd')).toBe(12);
  expect(g.has('attention.fwd.softmax')).toBe(false);
  expect(s.get('attention.fwd.softmax')).toBe(12);
  expect(s.has('attention.fwd')).toBe(false);
  // GELU' and LayerScale folded into the backward GEMMs on GPUs, passes of their own here
  expect(g.get('fc2.bwd.dx+dgelu')).toBe(12);
  expect(g.has('gelu.bwd') || g.has('residual.bwd')).toBe(false);
  expect(s.get('gelu.bwd')).toBe(12);
  // LoRA inside the LayerNorm kernels on GPUs
  expect(g.get('layernorm.fwd+lora')).toBe(12);
  expect(s.has('layernorm.fwd+lora')).toBe(false);
  expect(onGpu.dispatches).toBeLessThan(here.dispatches);
  expect(onGpu.dispatches).toBe([...g.values()].reduce((a, b) => a + b, 0));
});

/**
 * A model saved by PyTorch as .bin gives the same embeddings as its safetensors twin
 * (tests/fixtures/torch-bin, written by tools/gen_torch_bin_fixtures.py from tests/fixtures/models):
 *   dinov2-tiny/pytorch_model.bin     F32, q/k/v slices of one shared storage, transposed MLP views
 *   dinov3-tiny-bf16-sharded/         BF16 in two shards (zip + legacy) behind pytorch_model.bin.index.json
 *   dinov3-tiny-adapter/adapter_model.bin   a PEFT adapter, merged
 * Weights are bit-identical to the safetensors twin's; the forward on the GPU gives identical
 * outputs, and both match PyTorch's (cases.safetensors) within atol 1e-4.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, test } from 'vitest';
import { SafetensorsFile } from '../../src/io/safetensors';
import { loadCheckpoint, type LoadedCheckpoint } from '../../src/model/load';
import { loadAdapter, mergeAdapter } from '../../src/model/lora';
import { dirSource } from '../../src/platform/file-source-node';
import { Vit } from '../../src/model/vit';
import { expectClose } from '../helpers/check';
import { nodeGpu } from '../helpers/node-gpu';

const BIN = 'tests/fixtures/torch-bin';
const ST = 'tests/fixtures/models';

afterAll(async () => (await nodeGpu()).destroy());

function expectSameWeights(a: LoadedCheckpoint, b: LoadedCheckpoint) {
  expect([...a.weights.keys()].sort()).toEqual([...b.weights.keys()].sort());
  for (const [k, w] of a.weights)
    expect(Buffer.from(w.buffer).equals(Buffer.from(b.weights.get(k)!.buffer)), k).toBe(true);
}

async function forward(ck: LoadedCheckpoint, cases: SafetensorsFile, id: string) {
  const gpu = await nodeGpu();
  const vit = new Vit(gpu, ck.spec, ck.weights);
  const [B, , H, W] = cases.info(`${id}.pixel_values`).shape;
  const px = gpu.upload(cases.f32(`${id}.pixel_values`));
  const r = vit.forward(px, B, H, W);
  const pooled = await gpu.read(r.pooled, B * ck.spec.hidden);
  px.destroy();
  vit.destroy();
  return pooled;
}

for (const [bin, twin] of [
  ['dinov2-tiny', 'dinov2-tiny'],
  ['dinov3-tiny-bf16-sharded', 'dinov3-tiny-bf16'],
]) {
  describe(`${bin} (.bin) vs ${twin} (safetensors)`, () => {
    test('same weights, bit for bit, and the same embeddings on the GPU (PyTorch within 1e-4)', async () => {
      const a = await loadCheckpoint(dirSource(`${BIN}/${bin}`));
      const b = await loadCheckpoint(dirSource(`${ST}/${twin}`));
      expectSameWeights(a, b);
      const cases = SafetensorsFile.parse(readFileSync(`${ST}/${twin}/cases.safetensors`));
      const id = 's1';
      const pa = await forward(a, cases, id);
      const pb = await forward(b, cases, id);
      expect([...pa]).toEqual([...pb]);
      expectClose(pa, cases.f32(`${id}.pooler_output`), { atol: 1e-4, rtol: 0 }, `${bin} pooler_output`);
    });
  });
}

test('adapter_model.bin merges to the same weights as adapter_model.safetensors', async () => {
  const fromBin = await loadAdapter(dirSource(`${BIN}/dinov3-tiny-adapter`));
  const fromSt = await loadAdapter(dirSource('tests/fixtures/train/dinov3-tiny-adapter'));
  expect(fromBin.modules.map((m) => m.path)).toEqual(fromSt.modules.map((m) => m.path));
  const a = await loadCheckpoint(dirSource(`${ST}/dinov3-tiny`));
  const b = await loadCheckpoint(dirSource(`${ST}/dinov3-tiny`));
  mergeAdapter(a.spec, a.weights, fromBin);
  mergeAdapter(b.spec, b.weights, fromSt);
  expectSameWeights(a, b);
  const base = await loadCheckpoint(dirSource(`${ST}/dinov3-tiny`));
  expect(
    Buffer.from(a.weights.get('layer.0.q.w')!.buffer).equals(Buffer.from(base.weights.get('layer.0.q.w')!.buffer)),
  ).toBe(false);
});

test('a folder without weights names every file looked for', async () => {
  await expect(loadCheckpoint(dirSource(`${BIN}/dinov3-tiny-adapter`))).rejects.toThrow(/no config\.json/);
  await expect(loadAdapter(dirSource(`${ST}/dinov3-tiny`))).rejects.toThrow(/adapter_config\.json: not found/);
});

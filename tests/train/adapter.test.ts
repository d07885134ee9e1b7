/**
 * A PEFT adapter written by the PyTorch reference (tests/fixtures/train/<model>-adapter) gives the
 * reference's embeddings both merged into the weights (vembed forward --adapter) and applied as
 * unmerged LoRA modules (atol 1e-4); and bad adapters are refused with named errors.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, test } from 'vitest';
import { SafetensorsFile, writeSafetensors } from '../../src/io/safetensors';
import { loadCheckpoint } from '../../src/model/load';
import { loadAdapter, mergeAdapter, modulePaths } from '../../src/model/lora';
import { dirSource } from '../../src/platform/file-source-node';
import { Vit } from '../../src/model/vit';
import { expectClose } from '../helpers/check';
import { nodeGpu } from '../helpers/node-gpu';

const run = promisify(execFile);
afterAll(async () => (await nodeGpu()).destroy());

for (const name of ['dinov3-tiny', 'dinov2-tiny']) {
  test(`${name}: reference adapter, merged and unmerged, gives the reference embeddings`, async () => {
    const fx = SafetensorsFile.parse(readFileSync(`tests/fixtures/train/${name}.safetensors`));
    const ref = fx.f32('adapter.embeddings');
    const [B, , H, W] = fx.info('batch.query').shape;
    const adapter = await loadAdapter(dirSource(`tests/fixtures/train/${name}-adapter`));
    const gpu = await nodeGpu();
    // merged
    const ck = await loadCheckpoint(dirSource(`tests/fixtures/models/${name}`));
    mergeAdapter(ck.spec, ck.weights, adapter);
    const merged = new Vit(gpu, ck.spec, ck.weights);
    const px = gpu.upload(fx.f32('batch.query'));
    expectClose(
      await gpu.read(merged.forward(px, B, H, W).emb, B * ck.spec.hidden),
      ref,
      { atol: 1e-4, rtol: 0 },
      'merged',
    );
    merged.destroy();
    // unmerged
    const ck2 = await loadCheckpoint(dirSource(`tests/fixtures/models/${name}`));
    const vit = new Vit(gpu, ck2.spec, ck2.weights);
    const paths = modulePaths(ck2.spec);
    for (const m of adapter.modules) {
      const { layer, role } = paths.get(m.path)!;
      vit.addLora(layer, role, m.r, m.scale, 0, m.A, m.B, false);
    }
    expectClose(
      await gpu.read(vit.forward(px, B, H, W).emb, B * ck2.spec.hidden),
      ref,
      { atol: 1e-4, rtol: 0 },
      'unmerged',
    );
    vit.destroy();
    px.destroy();
  });
}

test('vembed forward --adapter matches the reference adapter embeddings', async () => {
  const fx = SafetensorsFile.parse(readFileSync('tests/fixtures/train/dinov3-tiny.safetensors'));
  const dir = mkdtempSync(join(tmpdir(), 'vembed-adapter-'));
  writeFileSync(
    join(dir, 'in.safetensors'),
    writeSafetensors([{ name: 'q', shape: fx.info('batch.query').shape, data: fx.f32('batch.query') }]),
  );
  await run(process.execPath, [
    'bin/vembed.mjs',
    'forward',
    '--model',
    'tests/fixtures/models/dinov3-tiny',
    '--adapter',
    'tests/fixtures/train/dinov3-tiny-adapter',
    '--input',
    join(dir, 'in.safetensors'),
    '--output',
    join(dir, 'out.safetensors'),
  ]);
  const out = SafetensorsFile.parse(readFileSync(join(dir, 'out.safetensors')));
  const pooled = out.f32('q.pooler_output');
  const C = 32;
  const emb = new Float32Array(pooled.length);
  for (let b = 0; b < pooled.length / C; b++) {
    let n = 0;
    for (let c = 0; c < C; c++) n += pooled[b * C + c] ** 2;
    for (let c = 0; c < C; c++) emb[b * C + c] = pooled[b * C + c] / Math.sqrt(n);
  }
  expectClose(emb, fx.f32('adapter.embeddings'), { atol: 1e-4, rtol: 0 }, 'vembed forward --adapter');
});

test('bad adapters are refused with the file and what is wrong', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vembed-badadapter-'));
  await expect(loadAdapter(dirSource(dir))).rejects.toThrow(
    /adapter_config\.json: not found \(a PEFT adapter folder is expected\)/,
  );
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', use_dora: true }));
  await expect(loadAdapter(dirSource(dir))).rejects.toThrow(/"use_dora": true \(DoRA\) is not supported/);
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 2, lora_alpha: 4 }));
  writeFileSync(
    join(dir, 'adapter_model.safetensors'),
    writeSafetensors([
      { name: 'base_model.model.layer.0.attention.q_proj.lora_A.weight', shape: [2, 32], data: new Float32Array(64) },
    ]),
  );
  await expect(loadAdapter(dirSource(dir))).rejects.toThrow(
    /module "layer\.0\.attention\.q_proj" has lora_A but no lora_B/,
  );
  writeFileSync(
    join(dir, 'adapter_model.safetensors'),
    writeSafetensors([
      { name: 'base_model.model.layer.9.attention.q_proj.lora_A.weight', shape: [2, 32], data: new Float32Array(64) },
      { name: 'base_model.model.layer.9.attention.q_proj.lora_B.weight', shape: [32, 2], data: new Float32Array(64) },
    ]),
  );
  const ad = await loadAdapter(dirSource(dir));
  const ck = await loadCheckpoint(dirSource('tests/fixtures/models/dinov3-tiny'));
  expect(() => mergeAdapter(ck.spec, ck.weights, ad)).toThrow(
    /adapter module "layer\.9\.attention\.q_proj" is not a linear layer of this dinov3 model/,
  );
});

test('vembed merge writes a plain checkpoint that gives the adapter embeddings', async () => {
  const fx = SafetensorsFile.parse(readFileSync('tests/fixtures/train/dinov2-tiny.safetensors'));
  const out = join(mkdtempSync(join(tmpdir(), 'vembed-merge-')), 'merged');
  await run(process.execPath, [
    'bin/vembed.mjs',
    'merge',
    '--model',
    'tests/fixtures/models/dinov2-tiny',
    '--adapter',
    'tests/fixtures/train/dinov2-tiny-adapter',
    '--output',
    out,
  ]);
  const ck = await loadCheckpoint(dirSource(out));
  const gpu = await nodeGpu();
  const vit = new Vit(gpu, ck.spec, ck.weights);
  const [B, , H, W] = fx.info('batch.query').shape;
  const px = gpu.upload(fx.f32('batch.query'));
  expectClose(
    await gpu.read(vit.forward(px, B, H, W).emb, B * ck.spec.hidden),
    fx.f32('adapter.embeddings'),
    { atol: 1e-4, rtol: 0 },
    'merged checkpoint',
  );
  vit.destroy();
  px.destroy();
});

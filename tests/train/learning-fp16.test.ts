/**
 * Mixed precision learns: on the Fashion-MNIST products of ./learning-data.ts, a LoRA run (r 8 on
 * every linear) with `fp16: true` (packed-f16 frozen weights and activations, f32 arithmetic)
 * must raise held-out Recall@1 by at least 7 points. Measured once with both precisions side by
 * side: zero-shot 15.0 %, LoRA f32 25.25 %, LoRA fp16 25.25 %; only the fp16 run is repeated
 * here, to keep the suite short.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { evalCommand } from '../../src/cli/eval';
import { trainCommand } from '../../src/cli/train';
import { nodeGpu } from '../helpers/node-gpu';
import { dataset, model, out } from './learning-data';

afterAll(async () => (await nodeGpu()).destroy());

test('fp16 storage learns: LoRA with packed-f16 weights and activations raises held-out Recall@1 by at least 7 points', async () => {
  const { root } = await dataset();
  const env = { gpu: await nodeGpu(), out: (t: string) => void out.push(t) };
  writeFileSync(
    join(root, 'lora-fp16.yaml'),
    [
      `model_name: ${join(process.cwd(), model)}`,
      'retrieval_mode: i2i',
      'use_lora: true',
      'lora_r: 8',
      'lora_alpha: 16',
      'lora_target_modules: all-linear',
      'fp16: true',
      `data_path: ${join(root, 'train.jsonl')}`,
      `image_root: ${root}`,
      `output_dir: ${join(root, 'lora-fp16')}`,
      'epochs: 3',
      'batch_size: 32',
      'learning_rate: 5.0e-3',
      'loss_type: infonce',
      'logging_steps: 25',
      'seed: 42',
    ].join('\n'),
  );
  await trainCommand([join(root, 'lora-fp16.yaml')]);
  await evalCommand(
    [
      'sop',
      '--model_path',
      join(root, 'lora-fp16', 'checkpoint-epoch-3'),
      '--base_model',
      model,
      '--sop_root',
      root,
      '--output_dir',
      join(root, 'lora-fp16-eval'),
    ],
    env,
  );
  const after = JSON.parse(readFileSync(join(root, 'lora-fp16-eval', 'sop_report.json'), 'utf8'))['recall@1'];
  const before = JSON.parse(readFileSync(join(root, 'zero-shot', 'sop_report.json'), 'utf8'))['recall@1'];
  console.log(`held-out Recall@1: zero-shot ${before}, LoRA fp16 ${after}`);
  expect(after - before).toBeGreaterThanOrEqual(0.07);
}, 600_000);

/**
 * Learning on real images, as a user runs it: an SOP-layout folder built from Fashion-MNIST
 * product photos (Debian dataset-fashion-mnist; ./learning-data.ts), `vembed prepare sop`,
 * zero-shot `vembed eval sop` with the small DINOv3-layout model of the fixtures, `vembed train`
 * (full fine-tuning, InfoNCE, 3 epochs), `vembed eval sop` again and `vembed eval compare`; the
 * zero-shot Recall@K is checked against an independent NumPy computation
 * (tools/recall_reference.py) on the saved embeddings. Fine-tuning must raise Recall@1 on the
 * held-out test products by at least 10 points. (Deterministic: fixed seeds, and the GPU math has
 * no order-dependent reductions, so the numbers repeat run to run.) The fp16 run is
 * ./learning-fp16.test.ts (its own file, so the two run side by side).
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, test } from 'vitest';
import { evalCommand } from '../../src/cli/eval';
import { trainCommand } from '../../src/cli/train';
import { nodeGpu } from '../helpers/node-gpu';
import { dataset, model, out } from './learning-data';

const run = promisify(execFile);
afterAll(async () => (await nodeGpu()).destroy());

test('fine-tuning on Fashion-MNIST products raises held-out Recall@1 by at least 10 points', async () => {
  const { root, emb } = await dataset();
  const env = { gpu: await nodeGpu(), out: (t: string) => void out.push(t) };
  writeFileSync(
    join(root, 'train.yaml'),
    [
      `model_name: ${join(process.cwd(), model)}`,
      'retrieval_mode: i2i',
      'use_lora: false',
      `data_path: ${join(root, 'train.jsonl')}`,
      `image_root: ${root}`,
      `output_dir: ${join(root, 'run')}`,
      'epochs: 3',
      'batch_size: 32',
      'learning_rate: 2.0e-3',
      'loss_type: infonce',
      'logging_steps: 25',
      'seed: 42',
    ].join('\n'),
  );
  await trainCommand([join(root, 'train.yaml')]);
  await evalCommand(
    [
      'sop',
      '--model_path',
      join(root, 'run', 'checkpoint-epoch-3'),
      '--sop_root',
      root,
      '--output_dir',
      join(root, 'fine-tuned'),
    ],
    env,
  );
  await evalCommand(
    ['compare', join(root, 'zero-shot', 'sop_report.json'), join(root, 'fine-tuned', 'sop_report.json')],
    env,
  );
  const before = JSON.parse(readFileSync(join(root, 'zero-shot', 'sop_report.json'), 'utf8'));
  const after = JSON.parse(readFileSync(join(root, 'fine-tuned', 'sop_report.json'), 'utf8'));
  console.log(out.join(''));
  expect(before.num_images).toBe(400);
  // The zero-shot Recall@K agrees with an independent NumPy computation on the same embeddings.
  const py = JSON.parse(
    (await run('/usr/bin/python3', ['tools/recall_reference.py', emb, '--topk', '1,10,100'])).stdout,
  );
  for (const k of ['recall@1', 'recall@10', 'recall@100']) expect(before[k], k).toBe(py[k]);
  expect(after['recall@1'] - before['recall@1']).toBeGreaterThanOrEqual(0.1);
  expect(after['recall@10']).toBeGreaterThan(before['recall@10']);
}, 600_000);

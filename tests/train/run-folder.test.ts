/**
 * RunFolder (src/train/run-folder.ts): a run's JSON files read through zod, in a real Node output
 * folder. A damaged trainer_state.json or train_results.json is an error naming the file and the
 * key; NaN written as null reads back as NaN; the latest checkpoint is the highest step.
 * Run: npx vitest run tests/train/run-folder.test.ts
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { RunFolder } from '../../src/train/run-folder';
import { nodeStore } from '../../src/platform/checkpoint-store-node';

const STATE = { step: 4, epoch: 1, batchInEpoch: 0, seed: 42, stepsPerEpoch: 4, numRecords: 16 };
const RESULTS = {
  model: 'm',
  steps: 4,
  total_steps: 8,
  epochs_done: 1,
  stopped_early: true,
  log: [{ step: 4, epoch: 1, loss: null, lr: 0.001, grad_norm: 0.5, images_per_s: 3 }],
  epochs: [{ epoch: 1, mean_loss: 1.5, validation: null }],
  skipped_images: [],
  final: { loss: null, seconds: 2, checkpoint: 'checkpoint-step-4' },
};

function run(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'vembed-run-folder-'));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}

test('reads what the trainer writes; NaN saved as null comes back as NaN; the latest checkpoint is the highest step', async () => {
  const dir = run({
    'checkpoint-step-4/trainer_state.json': STATE,
    'checkpoint-step-12/trainer_state.json': { ...STATE, step: 12 },
    'checkpoint-step-8/trainer_state.json': { step: 8 },
    'train_results.json': RESULTS,
    'train_config.yaml': 'epochs: 2\n',
  });
  const f = new RunFolder(nodeStore(dir));
  expect(await f.trainerState('checkpoint-step-4')).toEqual(STATE);
  expect(await f.latestCheckpoint()).toBe('checkpoint-step-12');
  const r = (await f.results())!;
  expect(r.log[0].loss).toBeNaN();
  expect(r.final.loss).toBeNull();
  expect(await f.configYaml()).toBe('epochs: 2\n');
  expect(await new RunFolder(nodeStore(run({}))).results()).toBeNull();
});

test('a damaged file names itself and the key', async () => {
  const dir = run({
    'checkpoint-step-1/trainer_state.json': { ...STATE, step: 'one' },
    'checkpoint-step-2/trainer_state.json': '{"step": 2,',
    'train_results.json': { ...RESULTS, log: [{ ...RESULTS.log[0], lr: 'fast' }] },
  });
  const f = new RunFolder(nodeStore(dir));
  await expect(f.trainerState('checkpoint-step-1')).rejects.toThrow(
    `${dir}/checkpoint-step-1/trainer_state.json: "step": Invalid input: expected number, received string`,
  );
  await expect(f.trainerState('checkpoint-step-2')).rejects.toThrow(
    new RegExp(`^${dir}/checkpoint-step-2/trainer_state\\.json: not valid JSON`),
  );
  await expect(f.results()).rejects.toThrow(
    `${dir}/train_results.json: "log.0.lr": Invalid input: expected number, received string`,
  );
  expect(await f.resultsIfReadable()).toBeNull();
  await expect(f.latestCheckpoint()).rejects.toThrow('checkpoint-step-1/trainer_state.json: "step"');
});

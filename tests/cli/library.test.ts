/**
 * The library API (src/index-node.ts, `vembed-web/node`) in-process, as the README's Library
 * section uses it (tests/cli/package.test.ts runs loadModel + embed from the built package):
 *   loadModel (a folder) -> embed (a folder and a file; a broken image skipped and listed) ->
 *   searchTopK (each image's nearest is itself) -> evaluate (sop-mini: Recall@K keys) ->
 *   train from a config object (1 step: a checkpoint and train_results.json); an unknown config
 *   key is refused by name before any work.
 * Run: npx vitest run tests/cli/library.test.ts
 */
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { useSharedGpu } from '../../src/cli/gpu';
import { embed, evaluate, loadModel, searchTopK, train, type Model } from '../../src/index-node';
import { nodeGpu } from '../helpers/node-gpu';

const MODEL = resolve('tests/fixtures/models/dinov3-tiny');
const IMG = 'tests/fixtures/preprocess';
const root = mkdtempSync(join(tmpdir(), 'vembed-library-'));
let model: Model;

beforeAll(async () => {
  useSharedGpu(await nodeGpu());
  model = await loadModel(MODEL, { gpu: await nodeGpu() });
});
afterAll(async () => {
  model?.destroy();
  useSharedGpu(null);
  (await nodeGpu()).destroy();
  rmSync(root, { recursive: true, force: true });
});

test('loadModel + embed + searchTopK', async () => {
  mkdirSync(join(root, 'photos'));
  for (const f of ['collage_97x61.png', 'gray_64x64.png', 'truncated.png'])
    copyFileSync(join(IMG, f), join(root, 'photos', f));
  const query = join(root, 'query.jpg');
  copyFileSync(join(IMG, 'tall_41x129.jpg'), query);
  const r = await embed(model, [join(root, 'photos'), query]);
  expect(r.paths.map((p) => p.slice(root.length + 1))).toEqual([
    'photos/collage_97x61.png',
    'photos/gray_64x64.png',
    'photos/truncated.png',
    'query.jpg',
  ]);
  expect(r.kept).toEqual([0, 1, 3]);
  expect(r.skipped.map((s) => s.path)).toEqual([join(root, 'photos/truncated.png')]);
  expect(r.D).toBe(model.dim);
  const N = r.kept.length;
  const { indices, scores } = await searchTopK(model.gpu, r.emb, r.emb, N, N, r.D, 1);
  expect([...indices]).toEqual([0, 1, 2]);
  for (const s of scores) expect(s).toBeCloseTo(1, 5);
});

test('evaluate on a dataset folder gives Recall@K', async () => {
  const m = await evaluate(model, 'tests/fixtures/data/sop-mini', { ks: [1, 10] });
  expect(Object.keys(m).sort()).toEqual(['num_queries', 'num_queries_without_positive', 'recall@1', 'recall@10']);
  expect(m.num_queries).toBeGreaterThan(0);
});

test('train from a config object; an unknown key is refused by name', async () => {
  const data = join(root, 'sop');
  cpSync('tests/fixtures/data/sop-mini', data, { recursive: true });
  const config = {
    model_name: MODEL,
    data_path: data,
    output_dir: join(root, 'out'),
    max_steps: 1,
    batch_size: 2,
    use_lora: true,
    lora_r: 2,
  };
  await expect(train({ ...config, learnig_rate: 1e-4 })).rejects.toThrow(/learnig_rate.*learning_rate/s);
  expect(existsSync(join(root, 'out'))).toBe(false);
  const r = await train(config);
  expect(r).toMatchObject({ steps: 1, total_steps: 1, stopped_early: false });
  expect(JSON.parse(readFileSync(join(root, 'out', 'train_results.json'), 'utf8')).steps).toBe(1);
  expect(existsSync(join(root, 'out', 'checkpoint-step-1', 'adapter_model.safetensors'))).toBe(true);
});

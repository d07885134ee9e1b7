/**
 * The `vembed` CLI and the app report the same numbers for the same inputs: both front ends call
 * src/run/, and this runs each on one small folder (PNG files written with sharp: 4 classes x 3
 * images, one unreadable file, one missing file) with the tiny DINOv2 model, in Node:
 * - SOP evaluation: `vembed eval sop` (its sop_report.json) against measureRecall, the function the
 *   app's engine worker calls, on the dataset as the app opens it (src/run/dataset.ts);
 * - training: `vembed train` (validate_data, 2 steps) against the app's path (prepareTrainingData +
 *   TrainingSession, as src/run/app-training.ts calls them for the engine worker): the same pairs dropped,
 *   the same skipped images, the same losses in train_results.json.
 * Only the decoder differs from the browser (sharp here, createImageBitmap there).
 * Run: npx vitest run tests/run/cli-app.test.ts
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { evalCommand, type SopReport } from '../../src/cli/eval';
import { recallKeys } from '../../src/cli/eval-compare';
import { useSharedGpu } from '../../src/cli/gpu';
import { trainCommand } from '../../src/cli/train';
import { readTrainConfigFile } from '../../src/config/file-node';
import { decodeImageBytes } from '../../src/data/decode-node';
import { nodeSource } from '../../src/platform/data-source-node';
import { prepareWith } from '../../src/eval/embed';
import { loadCheckpoint } from '../../src/model/load';
import { dirSource } from '../../src/platform/file-source-node';
import { imageLoader, openDataset } from '../../src/run/dataset';
import { measureRecall } from '../../src/run/evaluate';
import { prepareTrainingData } from '../../src/run/training-data';
import { TrainingSession, type TrainUpdate } from '../../src/run/training-session';
import { nodeStore } from '../../src/platform/checkpoint-store-node';
import type { TrainResults } from '../../src/train/trainer';
import { Rng } from '../../src/util/random';
import { nodeGpu } from '../helpers/node-gpu';

const REPO = resolve('.');
const MODEL = resolve('tests/fixtures/models/dinov2-tiny');
let w = '';
let root = '';

/** A 48x40 PNG: a class colour with per-image noise. */
async function writeImage(path: string, cls: number, rng: Rng): Promise<void> {
  const W = 48,
    H = 40;
  const px = Buffer.alloc(W * H * 3);
  const base = [(cls * 67) % 256, (cls * 131 + 40) % 256, (cls * 29 + 90) % 256].map(
    (c) => 0.4 * c + 0.6 * rng.uniform(0, 255),
  );
  for (let i = 0; i < W * H; i++)
    for (let c = 0; c < 3; c++) px[i * 3 + c] = Math.max(0, Math.min(255, base[c] + Math.round(rng.uniform(-60, 60))));
  await sharp(px, { raw: { width: W, height: H, channels: 3 } })
    .png()
    .toFile(path);
}

beforeAll(async () => {
  w = mkdtempSync(join(tmpdir(), 'vembed-cli-app-'));
  root = join(w, 'data');
  const rng = new Rng(7);
  const list = ['image_id class_id super_class_id path'];
  const pairs: string[] = [];
  for (let cls = 1; cls <= 4; cls++) {
    mkdirSync(join(root, `class_${cls}`), { recursive: true });
    const names = [0, 1, 2].map((i) => `class_${cls}/${cls}_${i}.png`);
    for (const n of names) {
      await writeImage(join(root, n), cls, rng);
      list.push(`${list.length} ${cls} 1 ${n}`);
    }
    names.forEach((n, i) => pairs.push(JSON.stringify({ query_image: n, positive: names[(i + 1) % 3], label: cls })));
  }
  writeFileSync(join(root, 'class_1', 'broken.png'), 'not an image');
  list.push(`${list.length} 1 1 class_1/broken.png`);
  pairs.push(JSON.stringify({ query_image: 'class_1/broken.png', positive: 'class_1/1_0.png', label: 1 }));
  pairs.push(JSON.stringify({ query_image: 'class_2/missing.png', positive: 'class_2/2_0.png', label: 2 }));
  writeFileSync(join(root, 'Ebay_test.txt'), list.join('\n') + '\n');
  writeFileSync(join(root, 'train.jsonl'), pairs.join('\n') + '\n');
  useSharedGpu(await nodeGpu());
});
afterAll(async () => {
  useSharedGpu(null);
  (await nodeGpu()).destroy();
});

test(
  'SOP evaluation: `vembed eval sop` and the app measure the same Recall@K, counts and skipped images',
  { timeout: 300_000 },
  async () => {
    const gpu = await nodeGpu();
    const out = join(w, 'sop-out');
    await evalCommand(['sop', '--model_path', MODEL, '--sop_root', root, '--output_dir', out], {
      gpu,
      out: () => {},
      err: () => {},
    });
    const cli = JSON.parse(readFileSync(join(out, 'sop_report.json'), 'utf8')) as SopReport;

    const source = nodeSource(root);
    const data = await openDataset(source, 'data', 'folder');
    expect(data.split.protocol).toBe('sop');
    const load = imageLoader(source, decodeImageBytes);
    const app = await measureRecall(
      gpu,
      await loadCheckpoint(dirSource(MODEL)),
      MODEL,
      data.split,
      () => {},
      (pp) => prepareWith(load, pp),
    );

    expect(cli.num_images).toBe(12);
    expect(app.images).toBe(cli.num_images);
    expect(app.queries).toBe(cli.num_valid_queries);
    expect(app.skipped).toBe(cli.skipped_images);
    expect(app.skippedFirst.map((s) => s.path)).toEqual(cli.skipped.map((s) => relative(root, s.path)));
    // The CLI leaves out the default K=100 (fewer than 100 other images); the app keeps its fixed
    // Recall@1/10/100. Every K both report is equal.
    const keys = recallKeys(cli as unknown as Record<string, unknown>);
    expect(keys).toEqual(['recall@1', 'recall@10']);
    for (const k of keys) expect(app.recall[k], k).toBe(cli[k as `recall@${number}`]);
  },
);

test(
  'training: `vembed train` and the app drop the same pairs, skip the same images and reach the same losses',
  { timeout: 300_000 },
  async () => {
    const gpu = await nodeGpu();
    const yaml = (out: string) =>
      [
        `model_name: ${MODEL}`,
        'data_path: data/train.jsonl',
        'image_root: data',
        `output_dir: ${out}`,
        'validate_data: true',
        'max_steps: 2',
        'logging_steps: 1',
        'batch_size: 4',
        'learning_rate: 1.0e-3',
        'use_lora: true',
        'lora_r: 4',
        'lora_alpha: 8',
        '',
      ].join('\n');
    writeFileSync(join(w, 'cli.yaml'), yaml('cli-run'));
    writeFileSync(join(w, 'app.yaml'), yaml('app-run'));
    const stderr = process.stderr.write;
    let log = '';
    process.stderr.write = ((t: string) => ((log += t), true)) as typeof process.stderr.write;
    process.chdir(w);
    let appMessages: string[];
    try {
      await trainCommand(['cli.yaml']);
      // The app's path, in Node: the same data preparation and training session the engine uses.
      const { config } = await readTrainConfigFile('app.yaml', []);
      const source = nodeSource(w);
      const load = imageLoader(source, decodeImageBytes);
      const dropped: string[] = [];
      const prepared = await prepareTrainingData(source, config, {
        load,
        decode: decodeImageBytes,
        relativeTo: w,
        onEvent: (e) => {
          if (e.kind === 'missing') dropped.push(...e.paths);
          if (e.kind === 'unreadable') dropped.push(...e.images.map((i) => i.path));
        },
      });
      expect(dropped).toEqual(['data/class_2/missing.png', 'data/class_1/broken.png']);
      const updates: TrainUpdate[] = [];
      await new TrainingSession({
        gpu,
        checkpoint: await loadCheckpoint(dirSource(MODEL)),
        config,
        records: prepared.records,
        load,
        store: nodeStore(join(w, 'app-run')),
        run: 'app-run',
        resume: null,
        validate: prepared.validate,
        unreadable: prepared.unreadable,
        onUpdate: (u) => updates.push(u),
      }).start();
      appMessages = updates.flatMap((u) => (u.kind === 'error' ? [u.message] : []));
    } finally {
      process.chdir(REPO);
      process.stderr.write = stderr;
    }
    expect(appMessages).toEqual([]);
    expect(log).toMatch(/missing: data\/class_2\/missing\.png\ndata: 1 missing images; 1 pairs dropped/);
    expect(log).toMatch(/validate_data: 1 unreadable images; 2 pairs dropped/);
    const cli = JSON.parse(readFileSync(join(w, 'cli-run', 'train_results.json'), 'utf8')) as TrainResults;
    const app = JSON.parse(readFileSync(join(w, 'app-run', 'train_results.json'), 'utf8')) as TrainResults;
    expect(cli.steps).toBe(2);
    expect(cli.log.map((r) => r.step)).toEqual([1, 2]);
    const same = (r: TrainResults) => ({
      model: r.model,
      steps: r.steps,
      total_steps: r.total_steps,
      epochs_done: r.epochs_done,
      stopped_early: r.stopped_early,
      skipped_images: r.skipped_images,
      checkpoint: r.final.checkpoint,
      log: r.log.map((x) => [x.step, x.epoch, x.loss, x.lr, x.grad_norm]),
    });
    expect(same(app)).toEqual(same(cli));
    expect(cli.skipped_images.map((s) => s.path)).toEqual(['data/class_1/broken.png']);
  },
);

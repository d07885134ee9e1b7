/**
 * The app's engine pieces that need no browser, in Node: the config check of the editor (line
 * numbers, a vembed-factory YAML as is), editing a key of the YAML, run folder names, paths of a
 * pasted config resolved inside the picked folder, the URL DataSource of the bundled demo, and
 * what the Data section reports for the demo dataset (format, counts, evaluation protocol,
 * samples, labels). The browser side is tests/e2e/app.test.ts.
 * Run: npx vitest run tests/e2e/app-worker.test.ts
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { expect, test } from 'vitest';
import { nodeSource } from '../../src/platform/data-source-node';
import { checkConfigYaml, runName } from '../../src/run/config-check';
import { openDataset, resolveInSource } from '../../src/run/dataset';
import { CONFIG_PRESETS, setYamlKey, yamlString } from '../../src/run/presets';
import { urlDataSource, type FileIndex } from '../../src/platform/data-source-http';
import { ROOT } from './browser';

const DEMO = resolve(ROOT, 'public/demo/dataset');

/** A vembed-factory config as its README shows them (paths relative to its repository). */
const VEMBED_FACTORY_YAML = `model_name: facebook/dinov2-base
retrieval_mode: i2i
data_path: data/sop/train.jsonl
val_data_path: data/sop/val.jsonl
image_root: data/sop
output_dir: experiments/output_sop_dinov2
epochs: 3
batch_size: 128
learning_rate: 2.0e-5
use_lora: true
lora_r: 16
lora_alpha: 32
use_gradient_cache: true
gradient_cache_chunk_size: 64
logging_steps: 10
save_steps: 500
report_to: none
`;

test('config check: every preset is valid; a vembed-factory YAML is accepted as is', () => {
  for (const p of CONFIG_PRESETS) expect(checkConfigYaml(p.yaml).problems, p.id).toEqual([]);
  const r = checkConfigYaml(VEMBED_FACTORY_YAML);
  expect(r.problems).toEqual([]);
  expect(r.config).toMatchObject({
    data_path: 'data/sop/train.jsonl',
    image_root: 'data/sop',
    lora_r: 16,
    batch_size: 128,
  });
  expect(runName(r.config!.output_dir)).toBe('experiments-output_sop_dinov2');
  expect(runName('./out/')).toBe('out');
  expect(runName('..')).toBe('output');
});

test('config check: problems carry the line and the key', () => {
  const yaml = 'epochs: 2\nbatch_sise: 4\nlearning_rate: fast\n\nlora_r: [\n';
  expect(checkConfigYaml(yaml).problems).toEqual([
    { line: 6, key: null, message: expect.stringContaining('YAML syntax error') },
  ]);
  const r = checkConfigYaml('epochs: 2\nbatch_sise: 4\nlearning_rate: fast\nuse_lora: maybe\n');
  expect(r.ok).toBe(false);
  expect(r.problems.map((p) => [p.line, p.key])).toEqual([
    [2, 'batch_sise'],
    [3, 'learning_rate'],
    [4, 'use_lora'],
  ]);
  expect(r.problems[0].message).toContain('did you mean "batch_size"');
});

test('setYamlKey replaces a top-level key or appends it; yamlString quotes what YAML would misread', () => {
  const y = 'model_name: a/b\n# model_name: not this\nepochs: 3\n';
  expect(setYamlKey(y, 'model_name', 'c/d')).toBe('model_name: c/d\n# model_name: not this\nepochs: 3\n');
  expect(setYamlKey(y, 'data_path', 'train.jsonl')).toBe(`${y}data_path: train.jsonl\n`);
  expect(yamlString('vembed/demo-dinov3-tiny')).toBe('vembed/demo-dinov3-tiny');
  expect(yamlString('yes')).toBe('"yes"');
  expect(yamlString('my data: v2')).toBe('"my data: v2"');
  expect(yamlString(null)).toBe('null');
});

test('paths of a pasted config are found inside the picked folder', async () => {
  const src = nodeSource(DEMO);
  expect(await resolveInSource(src, 'data/sop/train.jsonl')).toBe('train.jsonl');
  expect(await resolveInSource(src, 'train.jsonl')).toBe('train.jsonl');
  expect(await resolveInSource(src, 'sop/tshirt_final/1_0.JPG')).toBe('tshirt_final/1_0.JPG');
  expect(await resolveInSource(src, 'data/sop', true)).toBe('.');
  expect(await resolveInSource(src, 'data/sop/missing.jsonl')).toBe(null);
});

test('the demo folder over HTTP lists and reads like the folder itself', async () => {
  const index = JSON.parse(await readFile(resolve(DEMO, 'files.json'), 'utf8')) as FileIndex;
  expect(index.files.length).toBe(245); // 240 images, 2 lists, 2 JSONL files, README.txt (files.json lists all but itself)
  const node = nodeSource(DEMO);
  const url = urlDataSource('http://127.0.0.1:9/demo/dataset/', index, 'demo dataset');
  expect(await url.list('.')).toEqual((await node.list('.')).filter((e) => e.name !== 'files.json'));
  expect(await url.list('bag_final')).toEqual(await node.list('bag_final'));
  expect(await url.exists('bag_final/9_0.JPG')).toBe(true);
  expect(await url.exists('bag_final/nope.JPG')).toBe(false);
  await expect(url.list('nope')).rejects.toThrow('nope: no such folder (in demo dataset)');
  await expect(url.readBytes('nope.jpg')).rejects.toThrow('nope.jpg: no such file (in demo dataset)');
});

test('the Data section on the demo dataset: SOP layout with JSONL pairs, counts, SOP protocol, samples', async () => {
  const d = await openDataset(nodeSource(DEMO), 'demo', 'demo');
  expect(d.info).toMatchObject({
    format: 'sop',
    images: 240,
    classes: 60,
    pairs: 160,
    testImages: 80,
    dataPath: 'train.jsonl',
    valDataPath: 'val.jsonl',
    problems: [],
  });
  expect(d.info.description).toBe(
    'Stanford Online Products layout (Ebay_train.txt, Ebay_test.txt) with train.jsonl / val.jsonl',
  );
  expect(d.info.evalProtocol).toContain('SOP protocol on Ebay_test.txt: each of its 80 images (20 products)');
  expect(d.split.sop!.paths).toHaveLength(80);
  expect(d.info.samples).toHaveLength(12);
  expect(d.info.samples.slice(0, 3).map((s) => s.label)).toEqual(['tshirt #1', 'trouser #2', 'pullover #3']);
  expect(d.info.samples[0].blob.type).toBe('image/jpeg');
  expect(d.labelOf('sneaker_final/48_2.JPG')).toBe('sneaker #48');
  expect(d.gallery().paths).toHaveLength(240);
});

/**
 * The vembed-factory DINOv3 guide's commands, verbatim with `vembed` in place of its Python entry
 * points (the README's "From vembed-factory" table: this file checks that the table and ROWS
 * below agree, then runs every row). Each row's words go to runCli (src/cli/commands.ts, what
 * bin/vembed.mjs runs; in-process here, to spare a process start per row; the child-process path
 * is tests/cli/readme.test.ts's), with the current folder a fresh one laid out as the guide's
 * (data/stanford_online_products = the sop-mini fixture, examples/ = this repository's), against a
 * local stand-in for the Hugging Face hub (tests/hub/hub-server.ts, $HF_ENDPOINT) that serves the
 * tiny test models under the guide's model ids (one GPU device serves every row: useSharedGpu): facebook/dinov3-vitb16-pretrain-lvd1689m and -vits16- are tests/fixtures/models/
 * dinov3-tiny, facebook/dinov2-base is tests/fixtures/torch-bin/dinov2-tiny (pytorch_model.bin
 * only, as many fine-tunes on the hub).
 * Run: npx vitest run tests/cli/guide.test.ts
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../../src/cli/commands';
import { useSharedGpu } from '../../src/cli/gpu';
import { parseTrainConfigYaml } from '../../src/config';
import { autotune } from '../../src/ops/autotune';
import { nodeGpu } from '../helpers/node-gpu';
import { HubServer } from '../hub/hub-server';

const REPO = resolve('.');
const OUT = 'experiments/output_sop_dinov3_i2i';

/** The guide's commands and ours, in the README's order (README.md "From vembed-factory"). */
export const ROWS: { guide: string; ours: string }[] = [
  { guide: 'python examples/prepare_data.py sop_i2i', ours: 'npx vembed prepare sop_i2i' },
  { guide: 'python run.py examples/dinov3_i2i.yaml', ours: 'npx vembed train examples/dinov3_i2i.yaml' },
  {
    guide: 'bash examples/run_dinov3_i2i.sh',
    ours: 'npx vembed train examples/dinov3_i2i.yaml --data_path data/stanford_online_products/train.jsonl --val_data_path data/stanford_online_products/val.jsonl --image_root data/stanford_online_products',
  },
  {
    guide: 'python run.py examples/dinov3_i2i.yaml --config_override epochs=30 batch_size=64',
    ours: 'npx vembed train examples/dinov3_i2i.yaml --config_override epochs=30 batch_size=64',
  },
  {
    guide:
      'python benchmark/run.py sop --model_path experiments/output_sop_dinov3_i2i/checkpoint-1000 --sop_root data/stanford_online_products --batch_size 128',
    ours: 'npx vembed eval sop --model_path experiments/output_sop_dinov3_i2i/checkpoint-1000 --sop_root data/stanford_online_products --batch_size 128',
  },
  {
    guide:
      'python run.py examples/dinov3_i2i.yaml --config_override lr=0 model_name_or_path=experiments/output_sop_dinov3_i2i/checkpoint-1000',
    ours: 'npx vembed train examples/dinov3_i2i.yaml --config_override lr=0 model_name_or_path=experiments/output_sop_dinov3_i2i/checkpoint-1000',
  },
  {
    guide: 'python run.py examples/dinov3_i2i.yaml --config_override epochs=30 batch_size=64 learning_rate=0.00005',
    ours: 'npx vembed train examples/dinov3_i2i.yaml --config_override epochs=30 batch_size=64 learning_rate=0.00005',
  },
  {
    guide: 'python run.py examples/dinov3_i2i.yaml --config_override model_name=facebook/dinov2-base',
    ours: 'npx vembed train examples/dinov3_i2i.yaml --config_override model_name=facebook/dinov2-base',
  },
  {
    guide:
      'python run.py examples/dinov3_i2i.yaml --config_override model_name=facebook/dinov3-vits14-pretrain-lvd1689m',
    ours: 'npx vembed train examples/dinov3_i2i.yaml --config_override model_name=facebook/dinov3-vits14-pretrain-lvd1689m',
  },
];

const hub = new HubServer();
const cache = mkdtempSync(join(tmpdir(), 'vembed-guide-cache-'));
let prepared: string | null = null;

const files = (dir: string, names: string[]) =>
  Object.fromEntries(names.map((n) => [n, new Uint8Array(readFileSync(join(REPO, dir, n)))]));

beforeAll(async () => {
  const tiny3 = files('tests/fixtures/models/dinov3-tiny', [
    'config.json',
    'preprocessor_config.json',
    'model.safetensors',
  ]);
  hub.addRepo('facebook/dinov3-vitb16-pretrain-lvd1689m', tiny3);
  hub.addRepo('facebook/dinov3-vits16-pretrain-lvd1689m', tiny3);
  hub.addRepo(
    'facebook/dinov2-base',
    files('tests/fixtures/torch-bin/dinov2-tiny', ['config.json', 'preprocessor_config.json', 'pytorch_model.bin']),
  );
  await hub.start();
  process.env.HF_ENDPOINT = hub.url;
  process.env.VEMBED_CACHE = cache;
  delete process.env.HF_TOKEN;
  delete process.env.HUGGING_FACE_HUB_TOKEN;
  // One device for every row (tuned once, pipelines compiled once), as a long-lived process would.
  const gpu = await nodeGpu();
  await autotune(gpu);
  useSharedGpu(gpu);
});
afterAll(async () => {
  useSharedGpu(null);
  (await nodeGpu()).destroy();
  await hub.close();
});

/** A fresh folder as the guide lays it out: SOP under data/, this repository's examples/. */
function workdir(withJsonl = true): string {
  const w = mkdtempSync(join(tmpdir(), 'vembed-guide-'));
  cpSync('tests/fixtures/data/sop-mini', join(w, 'data/stanford_online_products'), { recursive: true });
  cpSync('examples', join(w, 'examples'), { recursive: true });
  if (withJsonl && prepared)
    for (const f of ['train.jsonl', 'val.jsonl'])
      cpSync(join(prepared, f), join(w, 'data/stanford_online_products', f));
  return w;
}

/** Runs a README command (`npx vembed ...`) in `cwd`: its words through runCli, output captured. */
async function vembed(command: string, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = command.split(/\s+/);
  expect(argv.slice(0, 2)).toEqual(['npx', 'vembed']);
  const out = { stdout: '', stderr: '' };
  const [w1, w2] = [process.stdout.write, process.stderr.write];
  process.stdout.write = ((t: string) => ((out.stdout += t), true)) as typeof process.stdout.write;
  process.stderr.write = ((t: string) => ((out.stderr += t), true)) as typeof process.stderr.write;
  process.chdir(cwd);
  try {
    return { code: await runCli(argv.slice(2)), ...out };
  } finally {
    process.chdir(REPO);
    [process.stdout.write, process.stderr.write] = [w1, w2];
  }
}

const row = (i: number) => ROWS[i].ours;
const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
const trainedConfig = (w: string, out = OUT) =>
  parseTrainConfigYaml(readFileSync(join(w, out, 'train_config.yaml'), 'utf8')).config;

test('the README table lists exactly these commands', () => {
  const readme = readFileSync('README.md', 'utf8');
  const table = readme.slice(readme.indexOf('<!-- guide-commands -->'), readme.indexOf('<!-- /guide-commands -->'));
  const rows = [...table.matchAll(/^\| `([^`]+)` \| `([^`]+)` \|/gm)].map((m) => ({ guide: m[1], ours: m[2] }));
  expect(rows).toEqual(ROWS);
});

describe("the guide's commands, verbatim", () => {
  test('prepare sop_i2i writes train.jsonl and val.jsonl into data/stanford_online_products', async () => {
    const w = workdir(false);
    const r = await vembed(row(0), w);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /wrote data\/stanford_online_products\/train\.jsonl and data\/stanford_online_products\/val\.jsonl/,
    );
    prepared = join(w, 'data/stanford_online_products');
    const first = JSON.parse(readFileSync(join(prepared, 'train.jsonl'), 'utf8').split('\n')[0]);
    expect(Object.keys(first).sort()).toEqual(['label', 'positive', 'query_image']);
    // Without the folder: where to put SOP, nothing downloaded.
    const empty = mkdtempSync(join(tmpdir(), 'vembed-guide-empty-'));
    const r2 = await vembed(row(0), empty);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(
      /data\/stanford_online_products: no such folder\. Download Stanford Online Products .* or give --root <folder>; nothing is downloaded here/,
    );
  });

  let trained: string | null = null;
  test('train examples/dinov3_i2i.yaml: the guide config as is (20 epochs, LoRA, InfoNCE), the model from the hub', async () => {
    const w = workdir();
    const r = await vembed(row(1), w);
    expect(r.code, r.stderr).toBe(0);
    const c = trainedConfig(w);
    expect(c).toMatchObject({
      model_name: 'facebook/dinov3-vitb16-pretrain-lvd1689m',
      epochs: 20,
      batch_size: 128,
      learning_rate: 1e-4,
      loss_type: 'infonce',
      use_lora: true,
    });
    const res = json(join(w, OUT, 'train_results.json'));
    expect(res.epochs_done).toBe(20);
    expect(existsSync(join(w, OUT, 'checkpoint-epoch-20/adapter_config.json'))).toBe(true);
    trained = w;
  });

  test('run_dinov3_i2i.sh: config keys as flags (--data_path ...), as its run.py line passes them', async () => {
    const w = workdir();
    // The flags win over the YAML, as in run.py: point the YAML elsewhere to see that they are used.
    const yaml = join(w, 'examples/dinov3_i2i.yaml');
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replaceAll('data/stanford_online_products', 'data/nowhere'));
    const r = await vembed(row(2), w);
    expect(r.code, r.stderr).toBe(0);
    expect(trainedConfig(w)).toMatchObject({
      data_path: 'data/stanford_online_products/train.jsonl',
      val_data_path: 'data/stanford_online_products/val.jsonl',
      image_root: 'data/stanford_online_products',
      epochs: 20,
    });
    expect(json(join(w, OUT, 'train_results.json')).epochs_done).toBe(20);
  });

  test('--config_override epochs=30 batch_size=64 (and learning_rate=0.00005)', async () => {
    const w = workdir();
    const r = await vembed(row(3), w);
    expect(r.code, r.stderr).toBe(0);
    expect(trainedConfig(w)).toMatchObject({
      epochs: 30,
      batch_size: 64,
      learning_rate: 1e-4,
      model_name: 'facebook/dinov3-vitb16-pretrain-lvd1689m',
    });
    expect(json(join(w, OUT, 'train_results.json')).epochs_done).toBe(30);
    // The row with learning_rate=0.00005 adds one override to the row just run (30 more epochs of
    // the same work): its words are parsed as `vembed train` parses them.
    const [, , , file, ...rest] = row(6).split(/\s+/);
    expect(rest[0]).toBe('--config_override');
    expect(parseTrainConfigYaml(readFileSync(join(w, file), 'utf8'), file, rest.slice(1)).config).toMatchObject({
      epochs: 30,
      batch_size: 64,
      learning_rate: 5e-5,
    });
  });

  test('eval sop --model_path .../checkpoint-1000: our checkpoint-step-1000, and an HF-style checkpoint-1000 with adapter_model.bin', async () => {
    expect(trained).not.toBeNull();
    const w = trained!;
    // A run that got to step 1000 (save_steps 500) has checkpoint-step-1000: the final weights here.
    cpSync(join(w, OUT, 'checkpoint-epoch-20'), join(w, OUT, 'checkpoint-step-1000'), { recursive: true });
    const r = await vembed(row(4), w);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/checkpoint-1000: using experiments\/output_sop_dinov3_i2i\/checkpoint-step-1000/);
    expect(r.stdout).toMatch(/recall@1 /);
    const report = json(join(w, 'benchmark_output_sop/sop_report.json'));
    expect(report).toMatchObject({ base_model: 'facebook/dinov3-vitb16-pretrain-lvd1689m', num_images: 4 });

    // vembed-factory / HF Trainer: checkpoint-1000/ with adapter_config.json + adapter_model.bin.
    const v = workdir();
    const ck = join(v, OUT, 'checkpoint-1000');
    cpSync('tests/fixtures/torch-bin/dinov3-tiny-adapter', ck, { recursive: true });
    const cfg = json(join(ck, 'adapter_config.json'));
    writeFileSync(
      join(ck, 'adapter_config.json'),
      JSON.stringify({ ...cfg, base_model_name_or_path: 'facebook/dinov3-vitb16-pretrain-lvd1689m' }),
    );
    const r2 = await vembed(row(4), v);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stderr).toMatch(
      /merged 4 LoRA modules from experiments\/output_sop_dinov3_i2i\/checkpoint-1000 into facebook\/dinov3-vitb16/,
    );
  });

  test("lr=0 model_name_or_path=<checkpoint>: evaluates it on val_data_path, no training (the same recall as the run's last validation)", async () => {
    const w = trained!;
    const before = readdirSync(join(w, OUT)).sort();
    const r = await vembed(row(5), w);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /learning_rate is 0: evaluating experiments\/output_sop_dinov3_i2i\/checkpoint-1000 on data\/stanford_online_products\/val\.jsonl, no training/,
    );
    expect(readdirSync(join(w, OUT)).sort()).toEqual([...before, 'eval_results.json'].sort());
    const ev = json(join(w, OUT, 'eval_results.json'));
    const last = json(join(w, OUT, 'train_results.json')).epochs.at(-1).validation;
    expect(ev.metrics['recall@1']).toBe(last['recall@1']);
    expect(ev.metrics['recall@10']).toBe(last['recall@10']);
    expect(ev.base_model).toBe('facebook/dinov3-vitb16-pretrain-lvd1689m');
  });

  test('model_name=facebook/dinov2-base: a DINOv2 whose hub repo has only pytorch_model.bin', async () => {
    const w = workdir();
    const r = await vembed(row(7), w);
    expect(r.code, r.stderr).toBe(0);
    expect(trainedConfig(w)).toMatchObject({ model_name: 'facebook/dinov2-base', epochs: 20 });
    expect(hub.requests('pytorch_model.bin', 'facebook/dinov2-base').length).toBeGreaterThan(0);
    expect(json(join(w, OUT, 'checkpoint-epoch-20/adapter_config.json')).target_modules).toEqual(['query', 'value']);
  });

  test('model_name=facebook/dinov3-vits14-pretrain-lvd1689m: no such repository, did you mean vits16', async () => {
    const w = workdir();
    const r = await vembed(row(8), w);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /facebook\/dinov3-vits14-pretrain-lvd1689m: config\.json not found .* Did you mean "facebook\/dinov3-vits16-pretrain-lvd1689m"\?/,
    );
  });
});

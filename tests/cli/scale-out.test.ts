/**
 * The scale-out path of the README ("Carrying a run to PyTorch + accelerate"): a run's output is
 * what vembed-factory's run.py takes. A short LoRA run on the fixtures (`vembed prepare`, `train`,
 * `merge` through runCli, in-process on one shared GPU device), then:
 *   - the checkpoint folder is a PEFT adapter (adapter_config.json with base_model_name_or_path,
 *     adapter_model.safetensors under base_model.model.<module>.lora_A/B.weight,
 *     preprocessor_config.json);
 *   - `vembed merge` gives a Hugging Face model folder (config.json, model.safetensors with every
 *     tensor under its HF name, preprocessor_config.json);
 *   - train_config.yaml, read as PyYAML reads it, gives vembed-factory's argument parser
 *     (HfArgumentParser over its ModelArguments / DataArguments / TrainingArguments) every key a
 *     DINO image-to-image run needs, each typed as that parser converts it, with values it accepts.
 * VF_FIELDS is vembed-factory's vembed/hparams.py (field -> type), written out here.
 * Run: npx vitest run tests/cli/scale-out.test.ts
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../../src/cli/commands';
import { useSharedGpu } from '../../src/cli/gpu';
import { SafetensorsFile } from '../../src/io/safetensors';
import { loadCheckpoint } from '../../src/model/load';
import { dirSource } from '../../src/platform/file-source-node';
import { expectedTensors } from '../../src/model/weights';
import { nodeGpu } from '../helpers/node-gpu';

const REPO = resolve('.');
const MODEL = resolve('tests/fixtures/models/dinov3-tiny');

/** vembed-factory's argument fields (vembed/hparams.py) and how HfArgumentParser types them. */
const VF_FIELDS: Record<string, 'str' | 'int' | 'float' | 'bool' | 'list' | 'dict'> = {
  model_name_or_path: 'str',
  model_name: 'str',
  model_type: 'str',
  encoder_mode: 'str',
  text_model_name: 'str',
  image_model_name: 'str',
  use_lora: 'bool',
  lora_r: 'int',
  lora_alpha: 'int',
  lora_dropout: 'float',
  lora_target_modules: 'list',
  teacher_model_name: 'str',
  projection_dim: 'int',
  pooling_method: 'str',
  torch_dtype: 'str',
  attn_implementation: 'str',
  data_path: 'str',
  val_data_path: 'str',
  image_root: 'str',
  column_mapping: 'dict',
  num_workers: 'int',
  pin_memory: 'bool',
  prefetch_factor: 'int',
  persistent_workers: 'bool',
  enable_image_cache: 'bool',
  validate_data: 'bool',
  skip_invalid_records: 'bool',
  output_dir: 'str',
  batch_size: 'int',
  learning_rate: 'float',
  lr: 'float',
  epochs: 'int',
  loss_type: 'str',
  retrieval_mode: 'str',
  use_gradient_cache: 'bool',
  gradient_cache_chunk_size: 'int',
  use_mrl: 'bool',
  mrl_dims: 'list',
  mrl_weights: 'list',
  report_to: 'str',
  gradient_checkpointing: 'bool',
  save_steps: 'int',
  logging_steps: 'int',
  num_gpus: 'int',
  dry_run: 'bool',
  use_fsdp: 'bool',
  overwrite_output_dir: 'bool',
  save_strategy: 'str',
  max_seq_length: 'int',
  max_image_size: 'int',
  weight_decay: 'float',
  max_grad_norm: 'float',
  scheduler_type: 'str',
  warmup_ratio: 'float',
  warmup_steps: 'int',
  topk_tokens: 'int',
  temperature: 'float',
  distillation_alpha: 'float',
  distillation_temperature: 'float',
  distillation_loss_type: 'str',
  debug_gpu_memory: 'int',
};
/** What a DINO image-to-image LoRA run reads (vembed/entrypoints/train.py and its builders). */
const NEEDED = [
  'model_name',
  'retrieval_mode',
  'pooling_method',
  'data_path',
  'val_data_path',
  'image_root',
  'output_dir',
  'epochs',
  'batch_size',
  'learning_rate',
  'weight_decay',
  'max_grad_norm',
  'scheduler_type',
  'warmup_ratio',
  'warmup_steps',
  'loss_type',
  'temperature',
  'use_lora',
  'lora_r',
  'lora_alpha',
  'lora_dropout',
  'lora_target_modules',
  'use_gradient_cache',
  'gradient_cache_chunk_size',
  'save_steps',
  'logging_steps',
  'report_to',
  'validate_data',
  'column_mapping',
];
/** Values vembed-factory accepts for its choice fields (its loss registry, retrieval modes, HF schedulers). */
const VF_CHOICES: Record<string, string[]> = {
  retrieval_mode: ['t2i', 'i2i', 'i2t', 't2t', 'm2i', 'm2t'],
  loss_type: [
    'infonce',
    'triplet',
    'cosent',
    'mrl',
    'colbert',
    'sigmoid',
    'distillation',
    'hard_negative',
    'in_batch_hard',
  ],
  scheduler_type: ['cosine', 'linear', 'constant', 'constant_with_warmup'],
  pooling_method: ['cls', 'mean', 'last_token', 'none'],
  report_to: ['none', 'wandb', 'tensorboard', 'swanlab', 'all'],
};

const typeOk = (t: string, v: unknown) =>
  v === null ||
  (t === 'str' && typeof v === 'string') ||
  (t === 'int' && Number.isInteger(v)) ||
  (t === 'float' && typeof v === 'number') ||
  (t === 'bool' && typeof v === 'boolean') ||
  (t === 'list' && Array.isArray(v)) ||
  (t === 'dict' && typeof v === 'object' && !Array.isArray(v));

let w = '';
beforeAll(async () => {
  w = mkdtempSync(join(tmpdir(), 'vembed-scale-out-'));
  cpSync('tests/fixtures/data/sop-mini', join(w, 'sop'), { recursive: true });
  writeFileSync(
    join(w, 'run.yaml'),
    [
      `model_name: ${MODEL}`,
      'data_path: sop/train.jsonl',
      'val_data_path: sop/val.jsonl',
      'image_root: sop',
      'output_dir: out',
      'epochs: 1',
      'batch_size: 8',
      'learning_rate: 1.0e-3',
      'use_lora: true',
      'lora_r: 4',
      'lora_alpha: 8',
      'lora_target_modules: [q_proj, v_proj]',
      '',
    ].join('\n'),
  );
  useSharedGpu(await nodeGpu());
  const err = process.stderr.write;
  let log = '';
  process.stderr.write = ((t: string) => ((log += t), true)) as typeof process.stderr.write;
  process.chdir(w);
  try {
    for (const args of [
      ['prepare', 'sop', '--root', 'sop'],
      ['train', 'run.yaml'],
      ['merge', '--model', MODEL, '--adapter', 'out/checkpoint-epoch-1', '--output', 'merged'],
    ]) {
      if ((await runCli(args)) !== 0) throw new Error(`vembed ${args.join(' ')} failed:\n${log}`);
    }
  } finally {
    process.chdir(REPO);
    process.stderr.write = err;
  }
}, 300_000);
afterAll(async () => {
  useSharedGpu(null);
  (await nodeGpu()).destroy();
});

describe('a run carried to vembed-factory', () => {
  test('the checkpoint folder is a PEFT adapter with its preprocessor', () => {
    const ck = join(w, 'out/checkpoint-epoch-1');
    const cfg = JSON.parse(readFileSync(join(ck, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({
      peft_type: 'LORA',
      base_model_name_or_path: MODEL,
      r: 4,
      lora_alpha: 8,
      target_modules: ['q_proj', 'v_proj'],
      use_dora: false,
    });
    const st = SafetensorsFile.parse(readFileSync(join(ck, 'adapter_model.safetensors')));
    expect(st.metadata.format).toBe('pt');
    const keys = [...st.tensors.keys()].sort();
    expect(keys).toContain('base_model.model.layer.0.attention.q_proj.lora_A.weight');
    expect(keys.every((k) => /^base_model\.model\.layer\.\d+\.attention\.[qv]_proj\.lora_[AB]\.weight$/.test(k))).toBe(
      true,
    );
    expect(existsSync(join(ck, 'preprocessor_config.json'))).toBe(true);
  });

  test('vembed merge gives a Hugging Face model folder (every tensor under its HF name)', async () => {
    const m = join(w, 'merged');
    const cfg = JSON.parse(readFileSync(join(m, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({ model_type: 'dinov3_vit', architectures: ['DINOv3ViTModel'] });
    expect(JSON.parse(readFileSync(join(m, 'preprocessor_config.json'), 'utf8'))).toEqual(
      JSON.parse(readFileSync(join(MODEL, 'preprocessor_config.json'), 'utf8')),
    );
    const st = SafetensorsFile.parse(readFileSync(join(m, 'model.safetensors')));
    expect(st.metadata).toEqual({ format: 'pt' });
    const ck = await loadCheckpoint(dirSource(m));
    const want = expectedTensors(ck.spec)
      .filter((t) => !t.optional)
      .map((t) => t.key);
    for (const k of want) expect(st.has(k), k).toBe(true);
  });

  test("train_config.yaml has every key vembed-factory's parser needs, typed as it converts them", () => {
    const text = readFileSync(join(w, 'out/train_config.yaml'), 'utf8');
    const y = parseYaml(text, { version: '1.1' }) as Record<string, unknown>;
    for (const k of NEEDED) expect(Object.keys(y), k).toContain(k);
    const kept = Object.keys(y).filter((k) => k in VF_FIELDS);
    for (const k of kept)
      expect(typeOk(VF_FIELDS[k], y[k]), `${k}: ${JSON.stringify(y[k])} is not ${VF_FIELDS[k]}`).toBe(true);
    for (const [k, allowed] of Object.entries(VF_CHOICES))
      if (y[k] !== null && y[k] !== undefined) expect(allowed, k).toContain(y[k]);
    expect(y).toMatchObject({
      model_name: MODEL,
      retrieval_mode: 'i2i',
      use_lora: true,
      lora_r: 4,
      lora_alpha: 8,
      lora_target_modules: ['q_proj', 'v_proj'],
      epochs: 1,
      learning_rate: 1e-3,
    });
    // What its parser drops (ours only): named in the README.
    const dropped = Object.keys(y).filter((k) => !(k in VF_FIELDS));
    expect(dropped).toContain('seed');
    expect(dropped).toContain('rope_rescale_in_training');
    const readme = readFileSync('README.md', 'utf8');
    expect(readme).toContain('`seed` or `rope_rescale_in_training`');
  });
});

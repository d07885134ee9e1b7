/**
 * Training config: defaults, vembed-factory YAML compatibility, every error message (pinned),
 * overrides, YAML round trip and LoRA target resolution. Pure CPU; run with
 *   npx vitest run tests/config
 */
import { describe, expect, test } from 'vitest';
import {
  ConfigError,
  TRAIN_CONFIG_KEYS,
  TrainConfig,
  applyOverrides,
  checkReadyToTrain,
  defaultTrainConfig,
  didYouMean,
  parseTrainConfigYaml,
  resolveLoraTargets,
  toYaml,
  validateTrainConfig,
  warmupSteps,
  BLOCK_LINEAR_PATHS,
  LINEAR_ROLES,
} from '../../src/config';
import { readTrainConfigFile } from '../../src/config/file-node';
import { linearModulePath } from '../../src/model/weights';
import type { VitSpec } from '../../src/model/config';
import schemaSource from '../../src/config/schema.ts?raw';
import dinov3Example from './fixtures/vembed-factory-dinov3_i2i.yaml?raw';
import dinov3ExampleNew from './fixtures/vembed-factory-dinov3_i2i.8781c62.yaml?raw';
import vfDefaults from './fixtures/vembed-factory-defaults.yaml?raw';

/** The problems a config throws (one line each), or a test failure if it parses. */
function problems(text: string, overrides: string[] = []): string[] {
  try {
    parseTrainConfigYaml(text, 'config.yaml', overrides);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).message).toBe((e as ConfigError).problems.join('\n'));
    return (e as ConfigError).problems;
  }
  throw new Error(`expected a ConfigError for:\n${text}`);
}
const parse = (text: string, overrides: string[] = []) => parseTrainConfigYaml(text, 'config.yaml', overrides);

describe('defaults', () => {
  test('an empty file gives every default and no notes', () => {
    for (const text of ['', '# nothing yet\n', '{}\n']) {
      const { config, notes } = parse(text);
      expect(notes).toEqual([]);
      expect(config).toEqual(defaultTrainConfig());
    }
    expect(defaultTrainConfig()).toEqual({
      model_name: null,
      retrieval_mode: 'i2i',
      pooling_method: 'cls',
      rope_rescale_in_training: false,
      data_path: null,
      val_data_path: null,
      image_root: null,
      allow_absolute_paths: false,
      column_mapping: null,
      validate_data: false,
      output_dir: 'output',
      overwrite_output_dir: false,
      epochs: 3,
      max_steps: -1,
      batch_size: 32,
      eval_batch_size: null,
      gradient_accumulation_steps: 1,
      learning_rate: 2e-5,
      weight_decay: 0.01,
      max_grad_norm: 1.0,
      scheduler_type: 'cosine',
      warmup_ratio: 0.1,
      warmup_steps: 0,
      seed: 42,
      loss_type: 'infonce',
      temperature: 0.05,
      loss_bidirectional: false,
      triplet_margin: 0.5,
      cosent_scale: 20,
      use_lora: false,
      lora_r: 16,
      lora_alpha: 32,
      lora_dropout: 0.05,
      lora_target_modules: null,
      use_rslora: false,
      use_gradient_cache: true,
      gradient_cache_chunk_size: 8,
      fp16: false,
      bf16: false,
      logging_steps: 10,
      save_steps: 0,
      eval_steps: 0,
      resume_from_checkpoint: null,
      report_to: 'none',
    });
  });

  test('every option carries a comment that states its default', () => {
    for (const key of TRAIN_CONFIG_KEYS) {
      const at = schemaSource.search(new RegExp(`^  ${key}: `, 'm'));
      expect(at, key).toBeGreaterThan(0);
      const comment = schemaSource.slice(schemaSource.lastIndexOf('/**', at), at);
      expect(comment, key).toMatch(/Default\s/);
    }
  });

  test('null means "not given" (the default), as vembed-factory drops null values', () => {
    const { config } = parse('epochs: null\npooling_method: ~\nreport_to: null\nlearning_rate: null\nimage_root: ""\n');
    expect(config).toEqual(defaultTrainConfig());
  });
});

describe('vembed-factory YAML', () => {
  test('examples/dinov3_i2i.yaml parses unchanged', () => {
    const { config, notes } = parse(dinov3Example);
    expect(config).toEqual({
      ...defaultTrainConfig(),
      model_name: 'facebook/dinov3-vitb16-pretrain-lvd1689m',
      retrieval_mode: 'i2i',
      use_lora: true,
      data_path: 'data/stanford_online_products/train.jsonl',
      val_data_path: 'data/stanford_online_products/val.jsonl',
      image_root: 'data/stanford_online_products',
      output_dir: 'experiments/output_sop_dinov3_i2i',
      epochs: 10,
      batch_size: 128,
      learning_rate: 1e-4,
      loss_type: 'infonce',
      report_to: 'none',
      logging_steps: 10,
      save_steps: 500,
    });
    expect(notes).toMatchInlineSnapshot(`
      [
        "config.yaml:5: model_type: "custom" is ignored here: vembed-factory's model class choice; the family (DINOv3 or DINOv2) is read from the model's config.json here",
      ]
    `);
  });

  test('the newer examples/dinov3_i2i.yaml (encoder_mode, gradient cache, eval_batch_size) parses unchanged', () => {
    const { config, notes } = parse(dinov3ExampleNew);
    expect(config).toMatchObject({
      model_name: 'facebook/dinov3-vitb16-pretrain-lvd1689m',
      use_gradient_cache: true,
      gradient_cache_chunk_size: 128,
      epochs: 1,
      batch_size: 1024,
      eval_batch_size: 64,
      learning_rate: 1e-4,
    });
    expect(notes).toMatchInlineSnapshot(`
      [
        "config.yaml:6: encoder_mode: "dino" is ignored here: vembed-factory's collator choice; the family (DINOv3 or DINOv2) is read from the model's config.json here",
      ]
    `);
  });

  test('configs/defaults.yaml: retrieval_mode t2i is refused', () => {
    expect(problems(vfDefaults)).toMatchInlineSnapshot(`
      [
        "config.yaml:96: retrieval_mode: "t2i" is not supported yet: this trainer does image-to-image retrieval (allowed: "i2i")",
      ]
    `);
  });

  test('configs/defaults.yaml with retrieval_mode i2i parses, noting every Python-only key', () => {
    const text = vfDefaults.replace('retrieval_mode: "t2i"', 'retrieval_mode: "i2i"');
    const { config, notes } = parse(text);
    expect(config).toEqual({
      ...defaultTrainConfig(),
      data_path: 'data/train.jsonl',
      learning_rate: 2e-5, // from `lr`
      use_gradient_cache: false, // defaults.yaml says false
      gradient_cache_chunk_size: 8,
      fp16: true, // defaults.yaml asks for mixed precision: f16 storage here
      overwrite_output_dir: true, // Hugging Face's key, read here (see schema.ts)
    });
    // topk_tokens appears twice with the same value: no note for that.
    expect(notes).toMatchInlineSnapshot(`
      [
        "config.yaml:16: save_strategy: "epoch" is ignored here: vembed-factory's trainer does not read it either; checkpoints follow save_steps there and here",
        "config.yaml:24: max_seq_length: 128 is ignored here: a text tokenizer length; this trainer has no text encoder",
        "config.yaml:25: max_image_size: 224 is ignored here: vembed-factory's trainer does not read it either; the input size comes from the model's preprocessor_config.json",
        "config.yaml:28: num_workers: 4 is ignored here: a PyTorch DataLoader setting; images are decoded by this trainer",
        "config.yaml:29: pin_memory: true is ignored here: a PyTorch DataLoader setting; images are decoded by this trainer",
        "config.yaml:30: prefetch_factor: 2 is ignored here: a PyTorch DataLoader setting; images are decoded by this trainer",
        "config.yaml:31: persistent_workers: true is ignored here: a PyTorch DataLoader setting; images are decoded by this trainer",
        "config.yaml:32: enable_image_cache: false is ignored here: vembed-factory's in-memory PIL image cache",
        "config.yaml:36: skip_invalid_records: true is ignored here: vembed-factory's loader skips records with missing fields; here record checks follow validate_data and the data loader",
        "config.yaml:59: encoder_mode: "auto" is ignored here: vembed-factory's collator choice; the family (DINOv3 or DINOv2) is read from the model's config.json here",
        "config.yaml:79: mrl_dims: [768,512,256,128] is ignored here: used only with use_mrl: true, which is not supported here",
        "config.yaml:80: mrl_weights: [1,1,1,1] is ignored here: used only with use_mrl: true, which is not supported here",
        "config.yaml:84: distillation_alpha: 0.5 is ignored here: used only with teacher_model_name (distillation), which is not supported here",
        "config.yaml:85: distillation_temperature: 1 is ignored here: used only with teacher_model_name (distillation), which is not supported here",
        "config.yaml:86: distillation_loss_type: "kl" is ignored here: used only with teacher_model_name (distillation), which is not supported here",
      ]
    `);
  });

  test('a repeated key takes its last value, as PyYAML does, with a note', () => {
    const { config, notes } = parse(
      'model_name: facebook/dinov3-vitb16-pretrain-lvd1689m\nmodel_name: models/dinov3-vitb16\n',
    );
    expect(config.model_name).toBe('models/dinov3-vitb16');
    expect(notes).toMatchInlineSnapshot(`
      [
        "config.yaml:2: model_name is given again (first on line 1); the last value wins, as in PyYAML",
      ]
    `);
  });

  test('YAML 1.1 as PyYAML reads it: yes/on booleans, y/n strings, octal, merge keys, dates as text', () => {
    const { config } = parse(
      'use_lora: yes\nvalidate_data: On\nlogging_steps: 010\n' +
        'column_mapping: {query_image: y, positive: n, label: 2024-01-01}\n' +
        '<<: {epochs: 4, batch_size: 8}\nbatch_size: 16\n',
    );
    expect(config).toMatchObject({
      use_lora: true,
      validate_data: true,
      logging_steps: 8,
      column_mapping: { query_image: 'y', positive: 'n', label: '2024-01-01' },
      epochs: 4,
      batch_size: 16, // an explicit key wins over a merged one
    });
  });

  test('values are read as vembed-factory re-reads them from text: numeric strings, boolean words, a lone name', () => {
    const { config } = parse(
      'epochs: "5"\nlearning_rate: "1e-4"\nuse_lora: "true"\nuse_rslora: 1\nlora_target_modules: qkv\nmodel_name: 123\n',
    );
    expect(config).toMatchObject({
      epochs: 5,
      learning_rate: 1e-4,
      use_lora: true,
      use_rslora: true,
      lora_target_modules: ['qkv'],
      model_name: '123',
    });
  });

  test('lr and learning_rate (and model_name_or_path and model_name) are both honoured, and may repeat one value', () => {
    expect(parse('lr: 3.0e-4\n').config.learning_rate).toBe(3e-4);
    expect(parse('learning_rate: 3.0e-4\nlr: 0.0003\n').config.learning_rate).toBe(3e-4);
    expect(parse('model_name_or_path: ./models/dinov2-small\n').config.model_name).toBe('./models/dinov2-small');
    expect(parse('model_name_or_path: a\nmodel_name: a\n').config.model_name).toBe('a');
  });

  test('pooling_method mean is what vembed-factory actually trains for DINO: the CLS token (noted)', () => {
    const { config, notes } = parse('pooling_method: mean\n');
    expect(config.pooling_method).toBe('cls');
    expect(notes).toMatchInlineSnapshot(`
      [
        "config.yaml:1: pooling_method: "mean" is read as "cls": vembed-factory returns pooler_output (the CLS token) for DINO models whatever the method, so this is what it trained",
      ]
    `);
    expect(parse('pooling_method: cls_mean\n').config.pooling_method).toBe('cls_mean');
  });
});

describe('errors name the key, the value and what is allowed', () => {
  test('unknown key, with and without a suggestion', () => {
    expect(problems('epochs: 3\nlearning_rat: 1.0e-4\nbatchsize: 8\nfoo_bar_baz: 1\n')).toMatchInlineSnapshot(`
      [
        "config.yaml:2: unknown key "learning_rat" (value 0.0001); did you mean "learning_rate"?",
        "config.yaml:3: unknown key "batchsize" (value 8); did you mean "batch_size"?",
        "config.yaml:4: unknown key "foo_bar_baz" (value 1); it is neither an option of this trainer nor a vembed-factory key",
      ]
    `);
  });

  test('wrong type', () => {
    expect(problems('epochs: ten\nuse_lora: maybe\nbatch_size: 2.5\noutput_dir: [a, b]\ncolumn_mapping: img\n'))
      .toMatchInlineSnapshot(`
      [
        "config.yaml:1: epochs: "ten" is not allowed; expected an integer in [1, 1000000] (default 3)",
        "config.yaml:2: use_lora: "maybe" is not allowed; expected true or false (default false)",
        "config.yaml:3: batch_size: 2.5 is not allowed; expected an integer >= 2 (the in-batch negatives of a pair are the other pairs of its batch) (default 32)",
        "config.yaml:4: output_dir: ["a","b"] is not allowed; expected a non-empty string (default "output")",
        "config.yaml:5: column_mapping: "img" is not allowed; expected a mapping with keys among query_image, positive, negatives, label, query or null (default null)",
      ]
    `);
  });

  test('out of range', () => {
    expect(
      problems(
        'epochs: 0\nbatch_size: -1\nlearning_rate: -1.0e-4\nwarmup_ratio: 1.5\nlora_dropout: 1\nmax_grad_norm: -1\n',
      ),
    ).toMatchInlineSnapshot(`
      [
        "config.yaml:1: epochs: 0 is not allowed; expected an integer in [1, 1000000] (default 3)",
        "config.yaml:2: batch_size: -1 is not allowed; expected an integer >= 2 (the in-batch negatives of a pair are the other pairs of its batch) (default 32)",
        "config.yaml:3: learning_rate: -0.0001 is not allowed; expected a number >= 0 (default 0.00002)",
        "config.yaml:4: warmup_ratio: 1.5 is not allowed; expected a number in [0, 1] (default 0.1)",
        "config.yaml:5: lora_dropout: 1 is not allowed; expected a number in [0, 1) (default 0.05)",
        "config.yaml:6: max_grad_norm: -1 is not allowed; expected a number >= 0 (default 1)",
      ]
    `);
    expect(problems('lr: -2.0e-5\n')).toMatchInlineSnapshot(`
      [
        "config.yaml:1: lr: -0.00002 is not allowed; expected a number >= 0 (default 0.00002)",
      ]
    `);
  });

  test('lr and learning_rate that disagree', () => {
    expect(problems('learning_rate: 1.0e-4\nepochs: 2\nlr: 2.0e-5\nmodel_name: a\nmodel_name_or_path: b\n'))
      .toMatchInlineSnapshot(`
      [
        "config.yaml:1: learning_rate: 0.0001 and lr: 0.00002 (config.yaml:3) disagree; give only one of them (lr is vembed-factory's alias of learning_rate)",
        "config.yaml:4: model_name: "a" and model_name_or_path: "b" (config.yaml:5) disagree; give only one of them (model_name_or_path is vembed-factory's alias of model_name)",
      ]
    `);
  });

  test('unsupported or unknown loss', () => {
    expect(problems('loss_type: mrl\n')).toMatchInlineSnapshot(`
      [
        "config.yaml:1: loss_type: "mrl" is not supported yet: Matryoshka (multi-width) losses are not implemented here (allowed: one of "infonce", "triplet", "cosent")",
      ]
    `);
    expect(problems('loss_type: colbert\npooling_method: none\n')).toMatchInlineSnapshot(`
      [
        "config.yaml:1: loss_type: "colbert" is not supported yet: late-interaction (token-level) losses are not implemented here; this trainer learns one vector per image (allowed: one of "infonce", "triplet", "cosent")",
        "config.yaml:2: pooling_method: "none" is not supported yet: token-level embeddings (ColBERT) are not implemented here; this trainer learns one vector per image (allowed: one of "cls", "cls_mean")",
      ]
    `);
    expect(problems('loss_type: infonse\n')).toMatchInlineSnapshot(`
      [
        "config.yaml:1: loss_type: "infonse" is not allowed; expected one of "infonce", "triplet", "cosent" (default "infonce"); did you mean "infonce"?",
      ]
    `);
  });

  test('unsupported retrieval mode', () => {
    for (const mode of ['t2i', 'i2t', 't2t', 'm2i', 'm2t']) {
      expect(problems(`retrieval_mode: ${mode}\n`)).toEqual([
        `config.yaml:1: retrieval_mode: "${mode}" is not supported yet: this trainer does image-to-image retrieval (allowed: "i2i")`,
      ]);
    }
    expect(problems('retrieval_mode: image2image\n')).toMatchInlineSnapshot(`
      [
        "config.yaml:1: retrieval_mode: "image2image" is not allowed; expected "i2i" (default "i2i")",
      ]
    `);
  });

  test('report_to a tracker', () => {
    expect(problems('report_to: wandb\n')).toMatchInlineSnapshot(`
      [
        "config.yaml:1: report_to: "wandb" is not supported: this trainer cannot report to wandb; it logs to the console and writes train_results.json instead (allowed: "none")",
      ]
    `);
    expect(problems('report_to: all\n')[0]).toMatch(
      /cannot report to experiment trackers; it logs to the console and writes train_results.json instead/,
    );
  });

  test('vembed-factory keys that would change what is trained', () => {
    expect(
      problems(
        'teacher_model_name: openai/clip-vit-large-patch14\nuse_mrl: true\nprojection_dim: 128\ntopk_tokens: 32\n' +
          'text_model_name: bert-base-uncased\nencoder_mode: composed\nenable_hard_mining: true\n',
      ),
    ).toMatchInlineSnapshot(`
      [
        "config.yaml:1: teacher_model_name: "openai/clip-vit-large-patch14" is not supported: knowledge distillation from a teacher model is not implemented here (allowed: null)",
        "config.yaml:2: use_mrl: true is not supported: Matryoshka representation learning is not implemented here (allowed: false)",
        "config.yaml:3: projection_dim: 128 is not supported: a projection head is not implemented here; the embedding is the backbone's pooled output (allowed: null)",
        "config.yaml:4: topk_tokens: 32 is not supported: token pruning for late-interaction (ColBERT) embeddings is not implemented here (allowed: 0 or null)",
        "config.yaml:5: text_model_name: "bert-base-uncased" is not supported: composed (separate text and image) encoders are not supported; set model_name to one DINOv3 or DINOv2 model (allowed: null)",
        "config.yaml:6: encoder_mode: "composed" is not supported: composed (separate text and image) encoders are not supported; set model_name to one DINOv3 or DINOv2 model",
        "config.yaml:7: enable_hard_mining: true is not supported: hard-negative mining is not implemented here (allowed: false)",
      ]
    `);
    // Off values of the same keys are fine, and need no note.
    expect(
      parse(
        'teacher_model_name: null\nuse_mrl: false\nprojection_dim: null\ntopk_tokens: 0\nenable_hard_mining: false\n',
      ).notes,
    ).toEqual([]);
  });

  test('column_mapping with an unknown role', () => {
    expect(problems('column_mapping: {query_image: img, lable: class_id}\n')).toMatchInlineSnapshot(`
      [
        "config.yaml:1: column_mapping: unknown key "lable" (did you mean "label"?); allowed keys: query_image, positive, negatives, label, query",
      ]
    `);
  });

  test('YAML syntax errors give file, line and column', () => {
    expect(problems('epochs: 3\nlora_target_modules: [q_proj, v_proj\nbatch_size: 4\n')).toMatchInlineSnapshot(`
      [
        "config.yaml:3:1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]",
      ]
    `);
    expect(problems('epochs: 3\nuse_lora: true\n  lora_r: 8\n')).toMatchInlineSnapshot(`
      [
        "config.yaml:2:11: YAML syntax error: Nested mappings are not allowed in compact mappings",
        "config.yaml:2:11: YAML syntax error: Implicit keys need to be on a single line",
      ]
    `);
    expect(problems('- epochs: 3\n')).toMatchInlineSnapshot(`
      [
        "config.yaml:1:1: the config must be a mapping of "key: value" lines, got [{"epochs":3}]",
      ]
    `);
  });

  test('all problems are reported together, in file order', () => {
    const p = problems('epochs: 0\nfoo: 1\nretrieval_mode: t2i\nfp16: true\nlora_r: 0\n');
    expect(p.map((l) => l.split(':')[1])).toEqual(['1', '2', '3', '5']);
  });
});

describe('--config_override key=value', () => {
  test('values are typed by the schema', () => {
    const { config, notes } = parse('model_name: facebook/dinov2-base\nval_data_path: val.jsonl\n', [
      'epochs=5',
      'learning_rate=1e-4',
      'use_lora=true',
      'lora_target_modules=[q_proj,v_proj]',
      'column_mapping={query_image: img, label: class_id}',
      'val_data_path=null',
      'model_name=123',
      'output_dir="runs/a b"',
      'fp16=false',
    ]);
    expect(config).toMatchObject({
      epochs: 5,
      learning_rate: 1e-4,
      use_lora: true,
      lora_target_modules: ['q_proj', 'v_proj'],
      column_mapping: { query_image: 'img', label: 'class_id' },
      val_data_path: null,
      model_name: '123',
      output_dir: 'runs/a b',
      fp16: false,
    });
    expect(notes).toEqual([]);
  });

  test('an override replaces the file value under either spelling; a later override wins', () => {
    expect(parse('learning_rate: 1.0e-4\n', ['lr=3e-4']).config.learning_rate).toBe(3e-4);
    expect(parse('lr: 1.0e-4\n', ['learning_rate=3e-4']).config.learning_rate).toBe(3e-4);
    expect(parse('', ['epochs=2', 'epochs=7']).config.epochs).toBe(7);
  });

  test('unknown key, malformed entry, bad list, wrong type, conflicting overrides', () => {
    expect(problems('', ['epoch=3', 'lerning_rate=1e-4', 'nokey', '=3', 'lora_target_modules=[q_proj']))
      .toMatchInlineSnapshot(`
      [
        "--config_override epoch=3: unknown key "epoch"; did you mean "epochs"?",
        "--config_override lerning_rate=1e-4: unknown key "lerning_rate"; did you mean "learning_rate"?",
        "--config_override "nokey": expected key=value, e.g. learning_rate=1e-4",
        "--config_override "=3": expected key=value, e.g. learning_rate=1e-4",
        "--config_override lora_target_modules=[q_proj: lora_target_modules: "[q_proj" is not a YAML flow list or mapping (Flow sequence must end with a ])",
      ]
    `);
    expect(problems('', ['epochs=abc', 'batch_size=0'])).toMatchInlineSnapshot(`
      [
        "--config_override epochs=abc: epochs: "abc" is not allowed; expected an integer in [1, 1000000] (default 3)",
        "--config_override batch_size=0: batch_size: 0 is not allowed; expected an integer >= 2 (the in-batch negatives of a pair are the other pairs of its batch) (default 32)",
      ]
    `);
    expect(problems('', ['lr=1e-4', 'learning_rate=2e-4'])).toMatchInlineSnapshot(`
      [
        "--config_override lr=1e-4: lr: 0.0001 and learning_rate: 0.0002 (--config_override learning_rate=2e-4) disagree; give only one of them (lr is vembed-factory's alias of learning_rate)",
      ]
    `);
    expect(problems('', ['report_to=wandb'])).toMatchInlineSnapshot(`
      [
        "--config_override report_to=wandb: report_to: "wandb" is not supported: this trainer cannot report to wandb; it logs to the console and writes train_results.json instead (allowed: "none")",
      ]
    `);
  });

  test('applyOverrides on a checked config', () => {
    const base = parse(dinov3Example).config;
    const { config } = applyOverrides(base, ['batch_size=64', 'use_lora=false']);
    expect(config).toEqual({ ...base, batch_size: 64, use_lora: false });
    expect(() => applyOverrides(base, ['batch_size=0'])).toThrow(
      '--config_override batch_size=0: batch_size: 0 is not allowed; expected an integer >= 2 (the in-batch negatives of a pair are the other pairs of its batch) (default 32)',
    );
  });

  test('validateTrainConfig checks a plain object the same way', () => {
    expect(validateTrainConfig({ epochs: 2, lr: 1e-3 }).config).toMatchObject({ epochs: 2, learning_rate: 1e-3 });
    expect(() => validateTrainConfig({ epoch: 2 }, 'form')).toThrow(
      'form: unknown key "epoch" (value 2); did you mean "epochs"?',
    );
  });
});

describe('toYaml', () => {
  test('writes every key and reads back to the same config', () => {
    const configs = [
      defaultTrainConfig(),
      parse(dinov3Example).config,
      parse(
        'learning_rate: 1.0e-7\nmodel_name: "123"\nimage_root: "on"\noutput_dir: "y"\nlora_target_modules: [q_proj, "yes"]\ncolumn_mapping: {label: "null"}\nresume_from_checkpoint: latest\n',
      ).config,
    ];
    for (const config of configs) {
      const text = toYaml(config);
      for (const key of TRAIN_CONFIG_KEYS) expect(text).toMatch(new RegExp(`^${key}: `, 'm'));
      expect(parse(text)).toEqual({ config, notes: [] });
    }
  });

  test('floats are written so that PyYAML reads them as floats (a dot and a signed exponent)', () => {
    const text = toYaml({ ...defaultTrainConfig(), learning_rate: 1e-7, temperature: 0.05 });
    expect(text).toMatch(/^learning_rate: 1\.0e-7$/m);
    expect(text).toMatch(/^temperature: 0\.05$/m);
    const pyyamlFloat = /^[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?$/;
    for (const line of text.split('\n')) {
      const v = line.split(': ')[1];
      if (v && /^[-+]?[0-9.]+(e[-+]?[0-9]+)?$/i.test(v) && /[.e]/i.test(v)) expect(v).toMatch(pyyamlFloat);
    }
  });

  test('the example output', () => {
    expect(toYaml(parse(dinov3Example).config)).toMatchInlineSnapshot(`
      "# Training config with every option (defaults filled in), as used for this run.
      model_name: facebook/dinov3-vitb16-pretrain-lvd1689m
      retrieval_mode: i2i
      pooling_method: cls
      rope_rescale_in_training: false
      data_path: data/stanford_online_products/train.jsonl
      val_data_path: data/stanford_online_products/val.jsonl
      image_root: data/stanford_online_products
      allow_absolute_paths: false
      column_mapping: null
      validate_data: false
      output_dir: experiments/output_sop_dinov3_i2i
      overwrite_output_dir: false
      epochs: 10
      max_steps: -1
      batch_size: 128
      eval_batch_size: null
      gradient_accumulation_steps: 1
      learning_rate: 0.0001
      weight_decay: 0.01
      max_grad_norm: 1
      scheduler_type: cosine
      warmup_ratio: 0.1
      warmup_steps: 0
      seed: 42
      loss_type: infonce
      temperature: 0.05
      loss_bidirectional: false
      triplet_margin: 0.5
      cosent_scale: 20
      use_lora: true
      lora_r: 16
      lora_alpha: 32
      lora_dropout: 0.05
      lora_target_modules: null
      use_rslora: false
      use_gradient_cache: true
      gradient_cache_chunk_size: 8
      fp16: false
      bf16: false
      logging_steps: 10
      save_steps: 500
      eval_steps: 0
      resume_from_checkpoint: null
      report_to: none
      "
    `);
  });
});

describe('resolveLoraTargets', () => {
  const withTargets = (lora_target_modules: TrainConfig['lora_target_modules']) => ({ lora_target_modules });

  test('default: the attention query and value projections of each family', () => {
    expect(resolveLoraTargets(withTargets(null), 'dinov3')).toEqual({
      roles: ['q', 'v'],
      modules: ['q_proj', 'v_proj'],
      unmatched: [],
    });
    expect(resolveLoraTargets(withTargets(null), 'dinov2')).toEqual({
      roles: ['q', 'v'],
      modules: ['query', 'value'],
      unmatched: [],
    });
  });

  test('all-linear, explicit lists, PEFT suffix matching, entries of the other family', () => {
    expect(resolveLoraTargets(withTargets('all-linear'), 'dinov3').modules).toEqual([
      'q_proj',
      'k_proj',
      'v_proj',
      'o_proj',
      'up_proj',
      'down_proj',
    ]);
    expect(resolveLoraTargets(withTargets('all-linear'), 'dinov2').modules).toEqual([
      'query',
      'key',
      'value',
      'dense',
      'fc1',
      'fc2',
    ]);
    expect(resolveLoraTargets(withTargets(['attention.output.dense', 'fc2']), 'dinov2').roles).toEqual(['o', 'fc2']);
    // vembed-factory's fallback list, as it resolves on each family.
    const vf = ['q_proj', 'v_proj', 'query', 'value', 'key', 'dense'];
    expect(resolveLoraTargets(withTargets(vf), 'dinov3')).toEqual({
      roles: ['q', 'v'],
      modules: ['q_proj', 'v_proj'],
      unmatched: ['query', 'value', 'key', 'dense'],
    });
    expect(resolveLoraTargets(withTargets(vf), 'dinov2')).toEqual({
      roles: ['q', 'k', 'v', 'o'],
      modules: ['query', 'key', 'value', 'dense'],
      unmatched: ['q_proj', 'v_proj'],
    });
  });

  test('a list that matches nothing is an error', () => {
    expect(() => resolveLoraTargets(withTargets(['q_proj', 'v_proj']), 'dinov2')).toThrowErrorMatchingInlineSnapshot(
      `[ConfigError: lora_target_modules: ["q_proj","v_proj"] matches no linear layer of a dinov2 model; its linear layers are query, key, value, dense, fc1, fc2 (or use "all-linear", or null for query and value)]`,
    );
  });

  test('module paths agree with the model code', () => {
    for (const family of ['dinov3', 'dinov2'] as const) {
      for (const role of LINEAR_ROLES) {
        expect(
          linearModulePath({ family } as VitSpec, 7, role).endsWith(`.7.${BLOCK_LINEAR_PATHS[family][role]}`),
        ).toBe(true);
      }
    }
  });
});

describe('helpers', () => {
  test('warmupSteps: warmup_steps > 0 wins, else ceil(total * warmup_ratio)', () => {
    expect(warmupSteps({ warmup_steps: 0, warmup_ratio: 0.1 }, 95)).toBe(10);
    expect(warmupSteps({ warmup_steps: 7, warmup_ratio: 0.1 }, 95)).toBe(7);
  });

  test('checkReadyToTrain wants a model and training data', () => {
    expect(() => checkReadyToTrain(defaultTrainConfig())).toThrowErrorMatchingInlineSnapshot(`
      [ConfigError: model_name is not set; training needs a hub id or a local model folder (model_name or model_name_or_path)
      data_path is not set; training needs a JSONL file of training records]
    `);
    expect(() => checkReadyToTrain(parse(dinov3Example).config)).not.toThrow();
  });

  test('didYouMean', () => {
    expect(didYouMean('learnig_rate', TRAIN_CONFIG_KEYS)).toBe('learning_rate');
    expect(didYouMean('Epochs', TRAIN_CONFIG_KEYS)).toBe('epochs');
    expect(didYouMean('wamrup_ratio', TRAIN_CONFIG_KEYS)).toBe('warmup_ratio');
    expect(didYouMean('xyz', TRAIN_CONFIG_KEYS)).toBeNull();
  });

  test('readTrainConfigFile (Node)', async () => {
    const path = new URL('./fixtures/vembed-factory-dinov3_i2i.yaml', import.meta.url).pathname;
    expect((await readTrainConfigFile(path, ['epochs=2'])).config.epochs).toBe(2);
    await expect(readTrainConfigFile('/nonexistent/config.yaml')).rejects.toThrow(
      '/nonexistent/config.yaml: cannot read the config file (ENOENT)',
    );
  });
});

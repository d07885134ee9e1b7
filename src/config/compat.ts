/**
 * vembed-factory compatibility tables: key aliases, known values we refuse (with the reason),
 * values read as another value, and vembed-factory keys that are not TrainConfig options
 * (accepted and noted as ignored, or refused when they would change what is trained).
 * Sources: vembed/hparams.py, configs/defaults.yaml, vembed/cli.py, vembed/entrypoints/train.py,
 * the loss registry and the example YAML files of vembed-factory.
 */
import type { TrainConfigKey } from './schema';

/** Alternative spellings of a TrainConfig key; both given with different values is an error. */
export const KEY_ALIASES: Record<string, TrainConfigKey> = {
  lr: 'learning_rate',
  model_name_or_path: 'model_name',
};

const NOT_I2I = 'not supported yet: this trainer does image-to-image retrieval';
const cannotReport = (v: string) =>
  `not supported: this trainer cannot report to ${v === 'all' ? 'experiment trackers' : v}; ` +
  'it logs to the console and writes train_results.json instead';

/** Values of TrainConfig keys that vembed-factory accepts but this trainer refuses, and why. */
export const REFUSED_VALUES: Partial<Record<TrainConfigKey, Record<string, string>>> = {
  retrieval_mode: { t2i: NOT_I2I, i2t: NOT_I2I, t2t: NOT_I2I, m2i: NOT_I2I, m2t: NOT_I2I },
  loss_type: {
    mrl: 'not supported yet: Matryoshka (multi-width) losses are not implemented here',
    colbert:
      'not supported yet: late-interaction (token-level) losses are not implemented here; this trainer learns one vector per image',
    sigmoid: 'not supported yet: the SigLIP-style sigmoid loss is not implemented here',
    distillation: 'not supported yet: knowledge distillation from a teacher model is not implemented here',
    hard_negative: 'not supported yet: hard-negative mining losses are not implemented here',
    in_batch_hard: 'not supported yet: hard-negative mining losses are not implemented here',
  },
  pooling_method: {
    none: 'not supported yet: token-level embeddings (ColBERT) are not implemented here; this trainer learns one vector per image',
  },
  report_to: {
    wandb: cannotReport('wandb'),
    tensorboard: cannotReport('tensorboard'),
    swanlab: cannotReport('swanlab'),
    all: cannotReport('all'),
  },
};

/** Values read as another value (what vembed-factory effectively does), with a note. */
export const VALUE_ALIASES: Partial<Record<TrainConfigKey, Record<string, { to: string; note: string }>>> = {
  pooling_method: {
    // vembed/model/base.py pool(): a model output with pooler_output returns it for every method
    // except "none"; DINOv2/DINOv3 always have one, so "mean" and "last_token" give the CLS token.
    mean: {
      to: 'cls',
      note: 'read as "cls": vembed-factory returns pooler_output (the CLS token) for DINO models whatever the method, so this is what it trained',
    },
    last_token: {
      to: 'cls',
      note: 'read as "cls": vembed-factory returns pooler_output (the CLS token) for DINO models whatever the method, so this is what it trained',
    },
  },
};

/** A vembed-factory key that is not a TrainConfig option. */
export type ForeignKey =
  /** Accepted with any value but those in `refuse` (value -> why); listed in the parser's notes
   *  as ignored here (unless null). */
  | { kind: 'ignored'; why: string; refuse?: Record<string, string> }
  /** Accepted while off (`isOff`); otherwise refused, since it would change what is trained. */
  | { kind: 'refused-unless-off'; isOff: (v: unknown) => boolean; allowed: string; why: string };

const ignored = (why: string, refuse?: Record<string, string>): ForeignKey => ({ kind: 'ignored', why, refuse });
const COMPOSED =
  'composed (separate text and image) encoders are not supported; set model_name to one DINOv3 or DINOv2 model';
const nullOnly = (why: string): ForeignKey => ({
  kind: 'refused-unless-off',
  isOff: (v) => v === null || v === '',
  allowed: 'null',
  why,
});
const falseOnly = (why: string): ForeignKey => ({
  kind: 'refused-unless-off',
  isOff: (v) => v === false,
  allowed: 'false',
  why,
});

const NOT_READ = "vembed-factory's trainer does not read it either";
const DATALOADER = 'a PyTorch DataLoader setting; images are decoded by this trainer';
const ONE_DEVICE = 'this trainer runs on one WebGPU device';
const MINING =
  'a hard-negative mining option, used only with enable_hard_mining or a hard-negative loss, which are not supported here';

export const FOREIGN_KEYS: Record<string, ForeignKey> = {
  // Python runtime only.
  model_type: ignored(
    "vembed-factory's model class choice; the family (DINOv3 or DINOv2) is read from the model's config.json here",
  ),
  encoder_mode: ignored(
    "vembed-factory's collator choice; the family (DINOv3 or DINOv2) is read from the model's config.json here",
    { composed: COMPOSED },
  ),
  torch_dtype: ignored('a PyTorch load dtype; weights are kept and trained in f32 here'),
  attn_implementation: ignored('a PyTorch attention kernel choice; attention here is a WGSL kernel with the same math'),
  gradient_checkpointing: ignored('PyTorch activation recomputation; memory here is bounded by use_gradient_cache'),
  num_workers: ignored(DATALOADER),
  pin_memory: ignored(DATALOADER),
  prefetch_factor: ignored(DATALOADER),
  persistent_workers: ignored(DATALOADER),
  enable_image_cache: ignored("vembed-factory's in-memory PIL image cache"),
  num_gpus: ignored(`multi-GPU launch through accelerate; ${ONE_DEVICE}`),
  use_fsdp: ignored(`PyTorch fully sharded data parallel; ${ONE_DEVICE}`),
  enable_gather: ignored(`multi-GPU gathering of embeddings for the loss; ${ONE_DEVICE}`),
  ddp_find_unused_parameters: ignored(`a PyTorch DDP setting; ${ONE_DEVICE}`),
  use_torch_compile: ignored('PyTorch graph compilation'),
  dry_run: ignored("vembed-factory's launch-command preview"),
  debug_gpu_memory: ignored('a CUDA memory cap for testing'),
  max_seq_length: ignored('a text tokenizer length; this trainer has no text encoder'),
  prompt: ignored('an instruction prompt for vision-language models; this trainer has no text encoder'),
  run_name: ignored('experiment-tracker metadata; this trainer reports to no tracker'),
  run_tags: ignored('experiment-tracker metadata; this trainer reports to no tracker'),
  run_notes: ignored('experiment-tracker metadata; this trainer reports to no tracker'),
  skip_invalid_records: ignored(
    "vembed-factory's loader skips records with missing fields; here record checks follow validate_data and the data loader",
  ),
  save_strategy: ignored(`${NOT_READ}; checkpoints follow save_steps there and here`),
  max_image_size: ignored(`${NOT_READ}; the input size comes from the model's preprocessor_config.json`),
  early_stopping_patience: ignored(NOT_READ),
  eval_metric: ignored(NOT_READ),
  eval_metric_better: ignored(NOT_READ),
  // Options of features that are refused below; harmless while those are off.
  mrl_dims: ignored('used only with use_mrl: true, which is not supported here'),
  mrl_weights: ignored('used only with use_mrl: true, which is not supported here'),
  distillation_alpha: ignored('used only with teacher_model_name (distillation), which is not supported here'),
  distillation_temperature: ignored('used only with teacher_model_name (distillation), which is not supported here'),
  distillation_loss_type: ignored('used only with teacher_model_name (distillation), which is not supported here'),
  init_logit_scale: ignored('used only by the sigmoid loss, which is not supported here'),
  init_logit_bias: ignored('used only by the sigmoid loss, which is not supported here'),
  projection_layers: ignored('used only by composed text+image encoders, which are not supported here'),
  hard_mining_mode: ignored(MINING),
  hard_mining_topk: ignored(MINING),
  hard_mining_lambda: ignored(MINING),
  hard_mining_temperature: ignored(MINING),
  hard_mining_bank_size: ignored(MINING),
  hard_mining_bank_momentum: ignored(MINING),
  hard_topk: ignored(MINING),
  use_all_negatives: ignored(MINING),
  bank_size: ignored(MINING),
  bank_dim: ignored(MINING),
  bank_momentum: ignored(MINING),
  lambda_bank: ignored(MINING),
  // Would change what is trained.
  teacher_model_name: nullOnly('knowledge distillation from a teacher model is not implemented here'),
  text_model_name: nullOnly(COMPOSED),
  image_model_name: nullOnly(COMPOSED),
  projection_dim: nullOnly("a projection head is not implemented here; the embedding is the backbone's pooled output"),
  use_mrl: falseOnly('Matryoshka representation learning is not implemented here'),
  enable_hard_mining: falseOnly('hard-negative mining is not implemented here'),
  topk_tokens: {
    kind: 'refused-unless-off',
    isOff: (v) => v === null || v === 0,
    allowed: '0 or null',
    why: 'token pruning for late-interaction (ColBERT) embeddings is not implemented here',
  },
};

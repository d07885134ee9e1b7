/**
 * The training config: one zod schema gives the type, the defaults and the error texts.
 *
 * Keys and meanings follow vembed-factory (vembed/hparams.py + configs/defaults.yaml) so that its
 * YAML files work here unchanged; where vembed-factory's dataclass default and its defaults.yaml
 * disagree, the effective value of a YAML run (defaults.yaml) is used unless a comment says
 * otherwise. A key given as null means "not given" (as in vembed-factory, whose launcher drops
 * null values before argument parsing), so it takes the default below.
 *
 * Aliases (`lr`, `model_name_or_path`), vembed-factory keys that do not apply here and values we
 * refuse with a reason live in ./compat.ts; parsing and merging in ./parse.ts.
 */
import { z } from 'zod';
import { COLUMN_ROLES } from '../data/datasets';

const int = (min: number) => z.number().int().min(min);
const path = () => z.string().min(1).nullable();

export const RETRIEVAL_MODES = ['i2i'] as const;
export const LOSS_TYPES = ['infonce', 'triplet', 'cosent'] as const;
export const SCHEDULER_TYPES = ['cosine', 'linear', 'constant', 'constant_with_warmup'] as const;
export const POOLING_METHODS = ['cls', 'cls_mean'] as const;

export const TrainConfig = z.object({
  // ── model ──────────────────────────────────────────────────────────────────────────────────
  /** Hub id (`facebook/dinov3-vitb16-pretrain-lvd1689m`) or a local model folder. Default null
   *  (required to train). Alias: `model_name_or_path` (both given and different = error). */
  model_name: path().default(null),
  /** Only image-to-image retrieval is trained here. Default "i2i" (vembed-factory's default is
   *  "t2i", but that is not something this trainer can do; t2i/i2t/t2t/m2i/m2t are refused). */
  retrieval_mode: z.enum(RETRIEVAL_MODES).default('i2i'),
  /** Image embedding: "cls" = L2-normalized pooler_output (CLS after the final LayerNorm), the
   *  vembed-factory behaviour; "cls_mean" = [CLS, mean of patch tokens] (registers excluded),
   *  L2-normalized, twice the width. Default "cls" (null = "cls"). */
  pooling_method: z.enum(POOLING_METHODS).default('cls'),
  /** DINOv3 only: during training, rescale the RoPE patch coordinates by one random factor per
   *  forward, as HF does in train() mode (`pos_embed_rescale`). Our own option. Default false. */
  rope_rescale_in_training: z.boolean().default(false),

  // ── data ───────────────────────────────────────────────────────────────────────────────────
  /** Training records (JSONL). Default null (required to train). */
  data_path: path().default(null),
  /** Validation records (JSONL); null = no evaluation. Default null. */
  val_data_path: path().default(null),
  /** Folder that relative image paths in the records are resolved against; null or "" = none.
   *  Default null. */
  image_root: path().default(null),
  /** Image paths in the records may be absolute, or lead out of image_root (or, without it, the
   *  folder paths are relative to) with "..". Off, such a record is an error naming the file and
   *  line, so a dataset file cannot make the trainer read files elsewhere. Our own option.
   *  Default false. */
  allow_absolute_paths: z.boolean().default(false),
  /** Record column names by role, e.g. {query_image: img, positive: pos, label: class_id}.
   *  Default null (the roles' own names). */
  column_mapping: z
    .object(
      Object.fromEntries(COLUMN_ROLES.map((r) => [r, z.string().min(1)])) as Record<
        (typeof COLUMN_ROLES)[number],
        z.ZodString
      >,
    )
    .partial()
    .strict()
    .nullable()
    .default(null),
  /** Check every record (fields present, images readable) before training. Default false. */
  validate_data: z.boolean().default(false),

  // ── schedule ───────────────────────────────────────────────────────────────────────────────
  /** Where checkpoints, train_config.yaml and train_results.json go. Default "output". */
  output_dir: z.string().min(1).default('output'),
  /** Train into an output_dir that already holds another run (Hugging Face's key). Without it a
   *  non-empty output_dir is refused unless resuming from it. With it, the earlier run's files
   *  (checkpoint-* folders, train_results.json, train_config.yaml) are moved into
   *  output_dir/replaced-<n>/ first, never deleted and never mixed with the new run. Default false. */
  overwrite_output_dir: z.boolean().default(false),
  /** Passes over the training records, at most 1,000,000. Default 3. */
  epochs: int(1).max(1_000_000).default(3),
  /** Stop after this many optimizer steps (the schedule decays over them); a positive value
   *  overrides `epochs`, as in HF transformers' TrainingArguments. -1 = off. Default -1. */
  max_steps: int(-1)
    .refine((v) => v !== 0)
    .default(-1)
    .meta({ allowed: 'a positive number of steps, or -1 (train for `epochs`)' }),
  /** Records per optimizer micro-step (in-batch negatives come from this batch, so >= 2).
   *  Default 32. */
  batch_size: int(2)
    .default(32)
    .meta({ allowed: 'an integer >= 2 (the in-batch negatives of a pair are the other pairs of its batch)' }),
  /** Batch size for embedding the validation set; null = batch_size. Default null. */
  eval_batch_size: int(1).nullable().default(null),
  /** Micro-batches whose gradients are summed before one optimizer step. Default 1. */
  gradient_accumulation_steps: int(1).default(1),
  /** AdamW peak learning rate. Default 2e-5 (defaults.yaml `lr: 2.0e-5`). Alias: `lr`. 0 trains
   *  nothing: `vembed train` then only evaluates model_name (vembed-factory's guide does this). */
  learning_rate: z.number().min(0).default(2e-5),
  /** AdamW decoupled weight decay. Default 0.01. */
  weight_decay: z.number().min(0).default(0.01),
  /** Clip the global gradient norm to this; 0 = no clipping. Default 1.0. */
  max_grad_norm: z.number().min(0).default(1.0),
  /** Learning-rate schedule after warmup (HF transformers' get_scheduler names). Default "cosine". */
  scheduler_type: z.enum(SCHEDULER_TYPES).default('cosine'),
  /** Warmup length as a fraction of all optimizer steps (rounded up). Default 0.1. */
  warmup_ratio: z.number().min(0).max(1).default(0.1),
  /** Warmup length in optimizer steps; > 0 wins over warmup_ratio. Default 0. */
  warmup_steps: int(0).default(0),
  /** Seed of every random draw (shuffling, LoRA init, dropout, RoPE rescale). Default 42. */
  seed: int(0).default(42),

  // ── loss ───────────────────────────────────────────────────────────────────────────────────
  /** "infonce" (softmax over in-batch negatives), "triplet" (hardest negative, margin on cosine
   *  similarity) or "cosent" (scaled log-sum-exp of similarity differences), as vembed-factory
   *  defines them. Default "infonce". */
  loss_type: z.enum(LOSS_TYPES).default('infonce'),
  /** InfoNCE softmax temperature. Default 0.05. */
  temperature: z.number().positive().default(0.05),
  /** InfoNCE: also the positive->query direction, averaged. Default false. */
  loss_bidirectional: z.boolean().default(false),
  /** Triplet margin on cosine similarity. Default 0.5. */
  triplet_margin: z.number().min(0).default(0.5),
  /** CoSENT scale on cosine differences. Default 20. */
  cosent_scale: z.number().positive().default(20),

  // ── LoRA ───────────────────────────────────────────────────────────────────────────────────
  /** Train LoRA adapters instead of all weights. Default false. */
  use_lora: z.boolean().default(false),
  /** LoRA rank. Default 16. */
  lora_r: int(1).default(16),
  /** LoRA alpha; scale = alpha / r (alpha / sqrt(r) with use_rslora). Default 32. */
  lora_alpha: z.number().positive().default(32),
  /** Dropout on the LoRA input. Default 0.05. */
  lora_dropout: z.number().min(0).lt(1).default(0.05),
  /** Modules that get adapters: a list of PEFT module names (`[q_proj, v_proj]`), "all-linear",
   *  or null = the attention query and value projections of the model's family (see
   *  resolveLoraTargets in ./lora.ts). A single name is read as a one-element list. Default null. */
  lora_target_modules: z
    .union([z.literal('all-linear'), z.array(z.string().min(1)).min(1)])
    .nullable()
    .default(null)
    .meta({
      allowed: 'a list of module names such as [q_proj, v_proj], "all-linear", or null (query and value projections)',
    }),
  /** Rank-stabilized LoRA: scale = alpha / sqrt(r). Default false. */
  use_rslora: z.boolean().default(false),

  // ── memory ─────────────────────────────────────────────────────────────────────────────────
  /** Gradient cache: embed the batch in chunks without activations, take the loss on all
   *  embeddings, then re-run each chunk with gradients. Same result, far less memory. Default
   *  true (vembed-factory's dataclass default; note its defaults.yaml says false). */
  use_gradient_cache: z.boolean().default(true),
  /** Images per gradient-cache chunk. Default 8 (vembed-factory's defaults.yaml; its dataclass
   *  says 4, but a YAML run gets 8). */
  gradient_cache_chunk_size: int(1).default(8),
  /** Mixed precision as vembed-factory names it: store the big frozen weights and the activations
   *  the GEMMs read as f16 (half the memory and bandwidth); arithmetic, the residual stream, LoRA
   *  parameters, gradients and optimizer state stay f32 (docs/model.md#f16-storage). Default false. */
  fp16: z.boolean().default(false),
  /** bf16 has no WGSL type: true selects the same f16 storage path as fp16 (said in a note).
   *  Default false. */
  bf16: z.boolean().default(false),

  // ── logging and checkpoints ────────────────────────────────────────────────────────────────
  /** Log loss and learning rate every N optimizer steps. Default 10. */
  logging_steps: int(1).default(10),
  /** Save a checkpoint every N optimizer steps; 0 = only at the end. Default 0. */
  save_steps: int(0).default(0),
  /** Evaluate on val_data_path every N optimizer steps; 0 = at the end of each epoch. Default 0. */
  eval_steps: int(0).default(0),
  /** Continue from a checkpoint folder, or "latest" = the newest one in output_dir. Default null. */
  resume_from_checkpoint: z
    .string()
    .min(1)
    .nullable()
    .default(null)
    .meta({ allowed: 'a checkpoint folder, "latest", or null' }),
  /** Experiment tracker. Only "none": metrics go to the console and train_results.json.
   *  Default "none" (null = "none"). */
  report_to: z.enum(['none']).default('none'),
});
export type TrainConfig = z.infer<typeof TrainConfig>;
export type TrainConfigKey = keyof TrainConfig;

/** Every key of TrainConfig, in schema order (the order toYaml writes). */
export const TRAIN_CONFIG_KEYS = Object.keys(TrainConfig.shape) as TrainConfigKey[];

/** The config with every option at its default. */
export function defaultTrainConfig(): TrainConfig {
  return TrainConfig.parse({});
}

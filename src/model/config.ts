/**
 * config.json of Hugging Face DINOv3 (`model_type: "dinov3_vit"`) and DINOv2 (`"dinov2"`)
 * checkpoints, parsed with zod (class defaults from transformers' configuration files; see
 * docs/model.md#dinov3-config and docs/model.md#dinov2-config), and reduced to one `VitSpec` the engine uses.
 *
 * Unsupported variants (DINOv3 gated MLP `use_gated_mlp: true`, DINOv2 `use_swiglu_ffn: true`,
 * hidden_act other than exact "gelu", DINOv3 pos_embed_shift/jitter in use) are refused with a
 * message that says so.
 */
import { z } from 'zod';
import type { Family } from '../data/preprocess';
import { ConfigError } from '../util/errors';

export const Dinov3Config = z.looseObject({
  model_type: z.literal('dinov3_vit'),
  hidden_size: z.number().int().positive().default(384),
  intermediate_size: z.number().int().positive().default(1536),
  num_hidden_layers: z.number().int().positive().default(12),
  num_attention_heads: z.number().int().positive().default(6),
  patch_size: z.number().int().positive().default(16),
  image_size: z.number().int().positive().default(224),
  num_channels: z.number().int().positive().default(3),
  num_register_tokens: z.number().int().nonnegative().default(0),
  hidden_act: z.string().default('gelu'),
  use_gated_mlp: z.boolean().default(false),
  layer_norm_eps: z.number().positive().default(1e-5),
  layerscale_value: z.number().default(1.0),
  rope_theta: z.number().positive().default(100.0),
  query_bias: z.boolean().default(true),
  key_bias: z.boolean().default(false),
  value_bias: z.boolean().default(true),
  proj_bias: z.boolean().default(true),
  mlp_bias: z.boolean().default(true),
  attention_dropout: z.number().default(0),
  drop_path_rate: z.number().default(0),
  initializer_range: z.number().default(0.02),
  pos_embed_shift: z.number().nullable().default(null),
  pos_embed_jitter: z.number().nullable().default(null),
  pos_embed_rescale: z.number().nullable().default(2.0),
});
export type Dinov3Config = z.infer<typeof Dinov3Config>;

export const Dinov2Config = z.looseObject({
  model_type: z.literal('dinov2'),
  hidden_size: z.number().int().positive().default(768),
  num_hidden_layers: z.number().int().positive().default(12),
  num_attention_heads: z.number().int().positive().default(12),
  mlp_ratio: z.number().positive().default(4),
  patch_size: z.number().int().positive().default(14),
  image_size: z.number().int().positive().default(224),
  num_channels: z.number().int().positive().default(3),
  hidden_act: z.string().default('gelu'),
  layer_norm_eps: z.number().positive().default(1e-6),
  layerscale_value: z.number().default(1.0),
  qkv_bias: z.boolean().default(true),
  use_swiglu_ffn: z.boolean().default(false),
  use_mask_token: z.boolean().default(true),
  drop_path_rate: z.number().default(0),
  hidden_dropout_prob: z.number().default(0),
  attention_probs_dropout_prob: z.number().default(0),
  initializer_range: z.number().default(0.02),
});
export type Dinov2Config = z.infer<typeof Dinov2Config>;

/** The engine's view of either family. */
export interface VitSpec {
  family: Family;
  hidden: number;
  heads: number;
  headDim: number;
  layers: number;
  intermediate: number;
  patch: number;
  channels: number;
  registers: number;
  eps: number;
  /** Biases present on q, k, v, o projections and on the MLP. */
  qBias: boolean;
  kBias: boolean;
  vBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  /** DINOv3 RoPE base; null for DINOv2 (learned position table). */
  ropeTheta: number | null;
  /** DINOv2: side of the learned position grid (image_size / patch_size). */
  posGrid: number | null;
  /** DINOv3 train-time RoPE coordinate rescale bound (HF applies it in training mode). */
  posEmbedRescale: number | null;
  imageSize: number;
}

export { ConfigError };

/** One problem per zod issue, naming the file and the key. */
function zodProblems(file: string, err: z.ZodError): string[] {
  return err.issues.map((i) => `${file}: "${i.path.join('.') || '(root)'}": ${i.message}`);
}

/** Parses a config.json object; `file` names it in errors. */
export function parseModelConfig(json: unknown, file = 'config.json'): VitSpec {
  const type = (json as { model_type?: unknown } | null)?.model_type;
  if (type === 'dinov3_vit') {
    const r = Dinov3Config.safeParse(json);
    if (!r.success) throw new ConfigError(zodProblems(file, r.error));
    const c = r.data;
    if (c.use_gated_mlp) {
      throw new ConfigError(
        `${file}: "use_gated_mlp": true (the SwiGLU MLP of DINOv3 S+/H+/7B) is not supported; ` +
          'use a ViT-S/16 or ViT-B/16 checkpoint',
      );
    }
    if (c.pos_embed_shift !== null || c.pos_embed_jitter !== null) {
      throw new ConfigError(`${file}: "pos_embed_shift"/"pos_embed_jitter" are not supported (expected null)`);
    }
    checkCommon(file, c.hidden_act, c.hidden_size, c.num_attention_heads, c.num_channels);
    return {
      family: 'dinov3',
      hidden: c.hidden_size,
      heads: c.num_attention_heads,
      headDim: c.hidden_size / c.num_attention_heads,
      layers: c.num_hidden_layers,
      intermediate: c.intermediate_size,
      patch: c.patch_size,
      channels: c.num_channels,
      registers: c.num_register_tokens,
      eps: c.layer_norm_eps,
      qBias: c.query_bias,
      kBias: c.key_bias,
      vBias: c.value_bias,
      oBias: c.proj_bias,
      mlpBias: c.mlp_bias,
      ropeTheta: c.rope_theta,
      posGrid: null,
      posEmbedRescale: c.pos_embed_rescale,
      imageSize: c.image_size,
    };
  }
  if (type === 'dinov2') {
    const r = Dinov2Config.safeParse(json);
    if (!r.success) throw new ConfigError(zodProblems(file, r.error));
    const c = r.data;
    if (c.use_swiglu_ffn) {
      throw new ConfigError(
        `${file}: "use_swiglu_ffn": true (DINOv2 giant) is not supported; use dinov2-small or dinov2-base`,
      );
    }
    checkCommon(file, c.hidden_act, c.hidden_size, c.num_attention_heads, c.num_channels);
    const inter = Math.trunc(c.hidden_size * c.mlp_ratio);
    return {
      family: 'dinov2',
      hidden: c.hidden_size,
      heads: c.num_attention_heads,
      headDim: c.hidden_size / c.num_attention_heads,
      layers: c.num_hidden_layers,
      intermediate: inter,
      patch: c.patch_size,
      channels: c.num_channels,
      registers: 0,
      eps: c.layer_norm_eps,
      qBias: c.qkv_bias,
      kBias: c.qkv_bias,
      vBias: c.qkv_bias,
      oBias: true,
      mlpBias: true,
      ropeTheta: null,
      posGrid: Math.floor(c.image_size / c.patch_size),
      posEmbedRescale: null,
      imageSize: c.image_size,
    };
  }
  throw new ConfigError(
    `${file}: "model_type" is ${JSON.stringify(type)}; supported: "dinov3_vit" (DINOv3 ViT) and "dinov2" (DINOv2)`,
  );
}

function checkCommon(file: string, act: string, hidden: number, heads: number, channels: number): void {
  if (act !== 'gelu') {
    throw new ConfigError(`${file}: "hidden_act" is "${act}"; only "gelu" (exact erf GELU) is supported`);
  }
  if (hidden % heads !== 0) {
    throw new ConfigError(`${file}: "hidden_size" ${hidden} is not divisible by "num_attention_heads" ${heads}`);
  }
  if (channels !== 3) {
    throw new ConfigError(`${file}: "num_channels" is ${channels}; only RGB (3) images are supported`);
  }
}

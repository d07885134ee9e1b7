/** config.json parsing for both families: defaults, real hub configs, refused variants. */
import { describe, expect, test } from 'vitest';
import { parseModelConfig } from '../../src/model/config';

describe('model config', () => {
  test('DINOv3 ViT-B/16 hub config', () => {
    const s = parseModelConfig({
      model_type: 'dinov3_vit',
      hidden_size: 768,
      intermediate_size: 3072,
      num_attention_heads: 12,
      num_hidden_layers: 12,
      num_register_tokens: 4,
      patch_size: 16,
      rope_theta: 100.0,
      layer_norm_eps: 1e-5,
      key_bias: false,
      architectures: ['DINOv3ViTModel'],
      torch_dtype: 'float32',
    });
    expect(s).toMatchObject({
      family: 'dinov3',
      hidden: 768,
      heads: 12,
      headDim: 64,
      intermediate: 3072,
      registers: 4,
      kBias: false,
      qBias: true,
      eps: 1e-5,
      ropeTheta: 100,
    });
  });

  test('DINOv3 class defaults fill missing fields', () => {
    const s = parseModelConfig({ model_type: 'dinov3_vit' });
    expect(s).toMatchObject({
      hidden: 384,
      intermediate: 1536,
      heads: 6,
      layers: 12,
      patch: 16,
      registers: 0,
      eps: 1e-5,
    });
  });

  test('DINOv2 small hub config: MLP width from mlp_ratio, 37x37 position grid', () => {
    const s = parseModelConfig({
      model_type: 'dinov2',
      hidden_size: 384,
      num_attention_heads: 6,
      num_hidden_layers: 12,
      mlp_ratio: 4,
      patch_size: 14,
      image_size: 518,
      layer_norm_eps: 1e-6,
      qkv_bias: true,
    });
    expect(s).toMatchObject({
      family: 'dinov2',
      hidden: 384,
      intermediate: 1536,
      posGrid: 37,
      kBias: true,
      eps: 1e-6,
      ropeTheta: null,
    });
  });

  test.each([
    [{ model_type: 'vit' }, /config\.json: "model_type" is "vit"; supported: "dinov3_vit"/],
    [{ model_type: 'dinov3_vit', use_gated_mlp: true }, /"use_gated_mlp": true .* is not supported/],
    [{ model_type: 'dinov2', use_swiglu_ffn: true }, /"use_swiglu_ffn": true \(DINOv2 giant\) is not supported/],
    [{ model_type: 'dinov2', hidden_act: 'gelu_new' }, /"hidden_act" is "gelu_new"; only "gelu"/],
    [{ model_type: 'dinov3_vit', hidden_size: 100, num_attention_heads: 6 }, /"hidden_size" 100 is not divisible/],
    [{ model_type: 'dinov3_vit', hidden_size: '768' }, /config\.json: "hidden_size": .*expected number/i],
  ])('refuses %j', (cfg, msg) => {
    expect(() => parseModelConfig(cfg)).toThrow(msg);
  });
});

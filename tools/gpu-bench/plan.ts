/**
 * What tools/gpu-bench measures, defined once: the Node side (bench.ts) runs it, and the PyTorch
 * side (torch_bench.py) reads the same plan as JSON (`bench.mjs plan > plan.json`), so both time
 * the same shapes, model config, batch and training settings.
 *
 * full (the NVIDIA run): DINOv3 ViT-B/16 from tools/gpu-bench/config.json (random weights), 224 x
 *   224, T = 1 + 4 + 14 * 14 = 201 tokens:
 *   - GEMMs of the ViT-B linears at N = B * T rows, B in 64, 8, 32, 16 (run in that order, so a
 *     time limit cuts the least telling ones): qkv 768->2304, proj 768->768, fc1 768->3072,
 *     fc2 3072->768, each as the forward and the two backward products of src/ops/linear.ts:
 *       fwd  y  = x W^T   M = N_rows, N = Cout, K = Cin,   B stored [Cout, Cin] (transB)
 *       dx   dx = dy W    M = N_rows, N = Cin,  K = Cout
 *       dW   dW = dy^T x  M = Cout,   N = Cin,  K = N_rows, A stored [N_rows, Cout] (transA)
 *   - the forward at batch 64;
 *   - a LoRA training step on 128 (query, positive) pairs with the trainer's defaults
 *     (src/config/schema.ts defaultTrainConfig: LoRA r 16, alpha 32, dropout 0.05 on q and v,
 *     InfoNCE temperature 0.05 one-way, AdamW lr 2e-5, weight decay 0.01, clip 1.0, gradient
 *     cache chunk 8 images).
 * tiny (tests, and run.sh --tiny on SwiftShader): config-tiny.json (64 wide, 2 layers, 32 x 32
 *   images: T = 9), GEMMs at B = 2 and 4, forward batch 2, training 4 pairs in chunks of 2 (so the
 *   gradient-cache path runs).
 */
import { resolveLoraTargets } from '../../src/config/lora';
import { defaultTrainConfig } from '../../src/config/schema';
import { parseModelConfig } from '../../src/model/config';
import configFull from './config.json';
import configTiny from './config-tiny.json';

export type Mode = 'full' | 'tiny';
export type LinearName = 'qkv' | 'proj' | 'fc1' | 'fc2';
export type GemmDir = 'fwd' | 'dx' | 'dW';

export interface GemmShape {
  /** e.g. `qkv.fwd B=64`. */
  id: string;
  layer: LinearName;
  dir: GemmDir;
  /** Images; the linear sees B * T rows. */
  B: number;
  rows: number;
  Cin: number;
  Cout: number;
  M: number;
  N: number;
  K: number;
  /** A stored [K, M] (else [M, K]); B stored [N, K] (else [K, N]). */
  transA: boolean;
  transB: boolean;
  /** 2 M N K. */
  flops: number;
}

export interface Plan {
  mode: Mode;
  /** Repo-relative path of the config.json both sides build the model from. */
  configFile: string;
  config: Record<string, unknown>;
  image: number;
  /** Tokens per image: 1 CLS + registers + patches. */
  tokens: number;
  gemm: GemmShape[];
  forward: { batch: number };
  train: {
    pairs: number;
    /** Images per gradient-cache chunk (ours; PyTorch runs with and without it). */
    chunk: number;
    lora: { r: number; alpha: number; dropout: number; roles: string[]; modules: string[] };
    temperature: number;
    lr: number;
    weightDecay: number;
    maxGradNorm: number;
  };
}

const SIZES = {
  full: {
    config: configFull,
    file: 'tools/gpu-bench/config.json',
    batches: [64, 8, 32, 16],
    forward: 64,
    pairs: 128,
    chunk: null,
  },
  tiny: {
    config: configTiny,
    file: 'tools/gpu-bench/config-tiny.json',
    batches: [4, 2],
    forward: 2,
    pairs: 4,
    chunk: 2,
  },
} as const;

export function makePlan(mode: Mode): Plan {
  const s = SIZES[mode];
  const config = s.config as Record<string, unknown>;
  const spec = parseModelConfig(config, s.file);
  const image = spec.imageSize;
  const tokens = 1 + spec.registers + Math.floor(image / spec.patch) ** 2;
  const C = spec.hidden,
    I = spec.intermediate;
  const linears: [LinearName, number, number][] = [
    ['qkv', C, 3 * C],
    ['proj', C, C],
    ['fc1', C, I],
    ['fc2', I, C],
  ];
  const gemm: GemmShape[] = [];
  for (const B of s.batches) {
    const rows = B * tokens;
    for (const [layer, Cin, Cout] of linears) {
      const dims: [GemmDir, number, number, number, boolean, boolean][] = [
        ['fwd', rows, Cout, Cin, false, true],
        ['dx', rows, Cin, Cout, false, false],
        ['dW', Cout, Cin, rows, true, false],
      ];
      for (const [dir, M, N, K, transA, transB] of dims) {
        gemm.push({
          id: `${layer}.${dir} B=${B}`,
          layer,
          dir,
          B,
          rows,
          Cin,
          Cout,
          M,
          N,
          K,
          transA,
          transB,
          flops: 2 * M * N * K,
        });
      }
    }
  }
  const d = defaultTrainConfig();
  const targets = resolveLoraTargets(d, spec.family);
  return {
    mode,
    configFile: s.file,
    config,
    image,
    tokens,
    gemm,
    forward: { batch: s.forward },
    train: {
      pairs: s.pairs,
      chunk: s.chunk ?? d.gradient_cache_chunk_size,
      lora: {
        r: d.lora_r,
        alpha: d.lora_alpha,
        dropout: d.lora_dropout,
        roles: targets.roles,
        modules: targets.modules,
      },
      temperature: d.temperature,
      lr: d.learning_rate,
      weightDecay: d.weight_decay,
      maxGradNorm: d.max_grad_norm,
    },
  };
}

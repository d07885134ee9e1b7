/**
 * The model rows of the benchmark (pure data and seeded weights, no GPU: shared by
 * bench/model/vit.bench.ts in the page, bench/run.ts in Node and tools/gpu-bench): DINOv3
 * ViT-S/16 and ViT-B/16 (docs/model.md#dinov3-config; 4 registers) at 224 x 224, batch 8, with random weights of
 * the real shapes (`randomWeights`). Each row measures embeddings/s through `Vit.forward`
 * (last_hidden_state and pooler_output).
 *   pixels [8, 3, 224, 224] -> T = 1 + 4 + 14 * 14 = 201 tokens -> pooler_output [8, C]
 * Peers: onnxruntime-web (WebGPU EP) on the ONNX export of tools/torch_ref/dino.py (ViT-S only,
 * `onnx` below, written by tools/export_onnx.py), and PyTorch on the CPU (tools/bench_torch_cpu.py,
 * run by bench/run.ts after the browser closes, `torchModel` is its --model argument).
 * Also the LoRA training row of ViT-S/16 (`TRAIN_BENCHES`, bench/model/train.bench.ts; its
 * PyTorch CPU peer is tools/bench_torch_cpu.py --train).
 */
import { parseModelConfig } from '../../src/model/config';
import { expectedTensors } from '../../src/model/weights';
import { Rng } from '../../src/util/random';

export interface ModelBench {
  /** Row op name. */
  op: string;
  /** Row shape label. */
  shape: string;
  /** config.json of the checkpoint family (parsed by parseModelConfig). */
  config: Record<string, unknown>;
  batch: number;
  image: number;
  /** Repo-relative path of the ONNX export for the onnxruntime-web peer, or null (no such peer). */
  onnx: string | null;
  /** --model argument of tools/export_onnx.py and tools/bench_torch_cpu.py. */
  torchModel: 's16' | 'b16';
  /** In `--all` only (none now: ViT-B/16 takes ~50 s per forward on SwiftShader, 2 cores). */
  heavy: boolean;
}

const DINOV3 = { model_type: 'dinov3_vit', patch_size: 16, num_register_tokens: 4, image_size: 224 };

export const MODEL_BENCHES: ModelBench[] = [
  {
    op: 'vit-s16.embed',
    shape: 'DINOv3 ViT-S/16 B=8 224x224 (T=201, 12x384, 6 heads)',
    config: { ...DINOV3, hidden_size: 384, num_attention_heads: 6, num_hidden_layers: 12, intermediate_size: 1536 },
    batch: 8,
    image: 224,
    onnx: 'bench/model/vit-s16.onnx',
    torchModel: 's16',
    heavy: false,
  },
  {
    op: 'vit-b16.embed',
    shape: 'DINOv3 ViT-B/16 B=8 224x224 (T=201, 12x768, 12 heads)',
    config: { ...DINOV3, hidden_size: 768, num_attention_heads: 12, num_hidden_layers: 12, intermediate_size: 3072 },
    batch: 8,
    image: 224,
    onnx: null,
    torchModel: 'b16',
    heavy: false,
  },
];

/**
 * Seeded random weights for every tensor of `expectedTensors(spec)` (optional ones left out).
 * Used by the embed rows (vit.bench.ts), the LoRA training row (train.bench.ts) and tools/gpu-bench.
 */
export function randomWeights(m: ModelBench): Map<string, Float32Array> {
  const spec = parseModelConfig(m.config);
  const rng = new Rng(2024);
  const w = new Map<string, Float32Array>();
  const std002 = 0.02 * Math.sqrt(3); // uniform(-a, a) has std a / sqrt(3)
  for (const t of expectedTensors(spec)) {
    if (t.optional) continue;
    const n = t.shape.reduce((a, b) => a * b, 1);
    const a = new Float32Array(n);
    const role = t.role;
    if (/norm\d?\.w$/.test(role) || /ls\d$/.test(role)) a.fill(1);
    else if (/norm\d?\.b$/.test(role)) a.fill(0);
    else {
      const scale = role.endsWith('.b') ? 0.01 : role === 'cls' || role === 'reg' ? 1 : std002;
      for (let i = 0; i < n; i++) a[i] = scale * rng.uniform();
    }
    w.set(role, a);
  }
  return w;
}

/** `op shape` as the page's --filter matches it. */
export const modelLabel = (m: ModelBench) => `${m.op} ${m.shape}`;

/**
 * Matmul FLOPs of one forward: patch embedding 2 B P (3 p^2) C; per layer q, k, v, o
 * 4 * 2 N C^2, MLP 2 * 2 N C I, attention 2 * 2 B T^2 C (N = B T). Norms, GELU, softmax, RoPE
 * are left out (under 1%).
 */
export function vitFlops(m: ModelBench): number {
  const c = m.config as {
    hidden_size: number;
    intermediate_size: number;
    num_hidden_layers: number;
    patch_size: number;
    num_register_tokens: number;
  };
  const C = c.hidden_size,
    I = c.intermediate_size,
    p = c.patch_size;
  const P = Math.floor(m.image / p) ** 2;
  const T = 1 + c.num_register_tokens + P;
  const B = m.batch,
    N = B * T;
  const layer = 8 * N * C * C + 4 * N * C * I + 4 * B * T * T * C;
  return 2 * B * P * 3 * p * p * C + c.num_hidden_layers * layer;
}

/**
 * The LoRA training row (bench/model/train.bench.ts; PyTorch CPU peer: tools/bench_torch_cpu.py
 * --train, run by bench/run.ts): one optimizer step of `model` on `pairs` (query, positive)
 * pairs, i.e. 2 * pairs images embedded and back-propagated per step.
 */
export interface TrainBench {
  op: string;
  shape: string;
  /** The model row it trains (config, image size, --model of the torch tool). */
  model: ModelBench;
  /** Pairs per step (the batch); each step embeds `pairs` queries and `pairs` positives. */
  pairs: number;
  /** LoRA on the q and v projections of every layer (PEFT q_proj, v_proj), s = alpha / r. */
  lora: { r: number; alpha: number; dropout: number; targets: ('q' | 'v')[] };
  /** InfoNCE temperature (labels null, one direction). */
  temperature: number;
  lr: number;
  weightDecay: number;
  maxGradNorm: number;
  /** Images per gradient-cache chunk (TrainStep `chunk`); absent: direct (all at once). */
  chunk?: number;
}

const VIT_S16 = MODEL_BENCHES[0];

export const TRAIN_BENCHES: TrainBench[] = [
  {
    op: 'vit-s16.train-lora',
    shape:
      'DINOv3 ViT-S/16 B=8 pairs (16 images) 224x224, LoRA r=16 alpha=32 q,v (dropout 0.05), ' +
      'InfoNCE (labels null), AdamW (wd 0.01, clip 1.0)',
    model: VIT_S16,
    pairs: 8,
    lora: { r: 16, alpha: 32, dropout: 0.05, targets: ['q', 'v'] },
    temperature: 0.05,
    lr: 1e-4,
    weightDecay: 0.01,
    maxGradNorm: 1,
  },
];

export const trainLabel = (t: TrainBench) => `${t.op} ${t.shape}`;

/**
 * Matmul FLOPs of one LoRA step on 2 * pairs images (the FLOPs of `vitFlops` at that batch are
 * the forward). The base is frozen, so the backward computes input gradients only, no weight
 * gradients: every linear's dX costs its forward again (except q, k, v of the lowest adapted
 * layer, whose input gradient nobody needs; the patch embedding is not back-propagated),
 * attention's backward costs twice its forward (dP, dV, dQ, dK), and each LoRA adapter costs
 * 4 N C r forward and 8 N C r backward (dB, du, dA, dx). Loss, norms, AdamW are left out. This
 * comes to ~2.1x the forward for ViT-S/16 at 224 (the usual "3x forward" counts weight
 * gradients, which frozen-base LoRA does not compute).
 */
export function trainLoraFlops(t: TrainBench): number {
  const m = { ...t.model, batch: 2 * t.pairs };
  const c = m.config as {
    hidden_size: number;
    intermediate_size: number;
    num_hidden_layers: number;
    patch_size: number;
    num_register_tokens: number;
  };
  const C = c.hidden_size,
    I = c.intermediate_size,
    L = c.num_hidden_layers;
  const T = 1 + c.num_register_tokens + Math.floor(m.image / c.patch_size) ** 2;
  const B = m.batch,
    N = B * T;
  const linear = 8 * N * C * C + 4 * N * C * I;
  const attention = 4 * B * T * T * C;
  const lora = t.lora.targets.length * 12 * N * C * t.lora.r;
  const backward = L * (linear + 2 * attention) - 3 * 2 * N * C * C; // no q, k, v dX in layer 0
  return vitFlops(m) + backward + L * lora;
}

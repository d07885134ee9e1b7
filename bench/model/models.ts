/**
 * The model rows of the benchmark (pure data, no GPU: shared by bench/model/vit.bench.ts in the
 * page and by bench/run.ts in Node): DINOv3 ViT-S/16 and ViT-B/16 (spec §1.1; 4 registers) at
 * 224 x 224, batch 8, with random weights of the real shapes. Each row measures embeddings/s
 * through `Vit.forward` (last_hidden_state and pooler_output).
 *   pixels [8, 3, 224, 224] -> T = 1 + 4 + 14 * 14 = 201 tokens -> pooler_output [8, C]
 * Peers: onnxruntime-web (WebGPU EP) on the ONNX export of tools/torch_ref/dino.py (ViT-S only,
 * `onnx` below, written by tools/export_onnx.py), and PyTorch on the CPU (tools/bench_torch_cpu.py,
 * run by bench/run.ts after the browser closes, `torchModel` is its --model argument).
 */

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

/** `op shape` as the page's --filter matches it. */
export const modelLabel = (m: ModelBench) => `${m.op} ${m.shape}`;

/**
 * Matmul FLOPs of one forward: patch embedding 2 B P (3 p^2) C; per layer q, k, v, o
 * 4 * 2 N C^2, MLP 2 * 2 N C I, attention 2 * 2 B T^2 C (N = B T). Norms, GELU, softmax, RoPE
 * are left out (under 1%).
 */
export function vitFlops(m: ModelBench): number {
  const c = m.config as { hidden_size: number; intermediate_size: number; num_hidden_layers: number; patch_size: number; num_register_tokens: number };
  const C = c.hidden_size, I = c.intermediate_size, p = c.patch_size;
  const P = Math.floor(m.image / p) ** 2;
  const T = 1 + c.num_register_tokens + P;
  const B = m.batch, N = B * T;
  const layer = 8 * N * C * C + 4 * N * C * I + 4 * B * T * T * C;
  return 2 * B * P * 3 * p * p * C + c.num_hidden_layers * layer;
}

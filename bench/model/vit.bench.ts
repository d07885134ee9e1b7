/**
 * Model rows (bench/model/models.ts): embeddings/s of DINOv3 ViT-S/16 and ViT-B/16 at 224 x 224,
 * batch 8, through `Vit.forward` (src/model/vit.ts) with seeded random weights of the real shapes
 * (models.ts `randomWeights`: linear and patch weights uniform with std ~0.02, biases small,
 * LayerNorm weights 1, LayerScale 1, CLS/register tokens uniform).
 *   pixels [8, 3, 224, 224] -> last_hidden_state [8, 201, C], pooler_output [8, C]
 * `items` = 8 images: the row reports images/s. FLOPs: `vitFlops` (matmuls).
 * One iteration takes tens of seconds on SwiftShader (ViT-S ~23 s, ViT-B ~50 s; the peer minutes):
 * the harness then does one warm-up and one timed run.
 * Peer (ViT-S/16): onnxruntime-web with the WebGPU execution provider (the engine behind
 * transformers.js) on bench/model/vit-s16.onnx, the ONNX export (opset 17) of the PyTorch
 * reference tools/torch_ref/dino.py with random weights of the same shapes (tools/export_onnx.py;
 * bench/run.ts writes it when missing). Same adapter, its own device; one iteration is
 * `session.run` with the outputs read back to the CPU. The PyTorch CPU row is added by run.ts.
 */
import { parseModelConfig } from '../../src/model/config';
import { Vit } from '../../src/model/vit';
import type { BenchEntry } from '../types';
import { randomF32, unitRows } from '../util';
import { MODEL_BENCHES, randomWeights, vitFlops, type ModelBench } from './models';
import { loadOrt } from './ort';

/** The embed row of a model (also timed by tools/gpu-bench at other batch sizes). */
export function modelEntry(m: ModelBench): BenchEntry {
  const { batch: B, image: S } = m;
  const onnx = m.onnx;
  return {
    op: m.op,
    shape: m.shape,
    flops: vitFlops(m),
    items: B,
    quick: false,
    heavy: m.heavy,
    setup(gpu) {
      const vit = new Vit(gpu, parseModelConfig(m.config), randomWeights(m));
      const pixels = gpu.upload(
        randomF32(B * 3 * S * S, 7).map((v) => 2 * v),
        'pixels',
      );
      let emb: GPUBuffer | null = null;
      return {
        run() {
          emb = vit.forward(pixels, B, S, S).emb;
        },
        async check() {
          // Embeddings are L2-normalized: every row has norm 1.
          const e = await gpu.read(emb!, B * vit.spec.hidden);
          return unitRows(e, B, vit.spec.hidden);
        },
        dispose() {
          vit.destroy();
          pixels.destroy();
        },
      };
    },
    customPeer: onnx
      ? {
          name: 'onnxruntime-web-webgpu',
          async setup() {
            const ort = await loadOrt();
            const url = `/${onnx}`;
            const head = await fetch(url, { method: 'HEAD' });
            const type = head.headers.get('content-type') ?? '';
            if (!head.ok || type.includes('text/html')) {
              throw new Error(`${onnx} is missing: run /usr/bin/python3 tools/export_onnx.py --model ${m.torchModel}`);
            }
            const session = await ort.InferenceSession.create(url, {
              executionProviders: ['webgpu'],
              graphOptimizationLevel: 'all',
            });
            const input = new ort.Tensor(
              'float32',
              randomF32(B * 3 * S * S, 7).map((v) => 2 * v),
              [B, 3, S, S],
            );
            const feeds = { [session.inputNames[0]]: input };
            return {
              async run() {
                const out = await session.run(feeds);
                for (const t of Object.values(out)) t.dispose();
              },
              async dispose() {
                input.dispose();
                await session.release();
              },
            };
          },
        }
      : undefined,
  };
}

export const entries: BenchEntry[] = MODEL_BENCHES.map(modelEntry);

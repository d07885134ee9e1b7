/**
 * linear (src/ops/linear.ts) at ViT-S/16 and ViT-B/16 shapes: y = x W^T + b and the two
 * backward products dx = dy W and dW = dy^T x (the bias gradient is a cheap column sum).
 *   x [N, Cin], W [Cout, Cin], b [Cout], y/dy [N, Cout]; N = batch * T rows, T = 201
 *   (DINOv3 at 224 px, patch 16: 1 class token + 4 registers + 196 patches).
 * FLOPs: 2 N Cin Cout per product. Peer: TensorFlow.js WebGPU, `tf.fused.matMul` with the bias
 * fused (the forward) and `tf.matMul` with the matching transposes (the backward products).
 */
import { linearBackward, linearForward } from '../../src/ops/linear';
import type { BenchEntry } from '../types';
import { randomF32 } from '../util';

const T = 201;

const MODELS: { model: string; layers: [layer: string, Cin: number, Cout: number][] }[] = [
  {
    model: 'ViT-S',
    layers: [
      ['qkv', 384, 1152],
      ['proj', 384, 384],
      ['fc1', 384, 1536],
      ['fc2', 1536, 384],
    ],
  },
  {
    model: 'ViT-B',
    layers: [
      ['qkv', 768, 2304],
      ['proj', 768, 768],
      ['fc1', 768, 3072],
      ['fc2', 3072, 768],
    ],
  },
];

type Product = 'fwd' | 'bwd.dx' | 'bwd.dW';

/** The short run: ViT-S qkv (all three products) and ViT-B qkv forward, batch 8. */
function isQuick(batch: number, model: string, layer: string, product: Product): boolean {
  if (batch !== 8 || layer !== 'qkv') return false;
  return model === 'ViT-S' || product === 'fwd';
}

/**
 * Batch 32 runs by default only for ViT-S qkv: the rest is up to 30 GFLOP per product, a
 * minute or more each on SwiftShader (`--all` includes it).
 */
function isHeavy(batch: number, model: string, layer: string): boolean {
  return batch === 32 && !(model === 'ViT-S' && layer === 'qkv');
}

function entry(batch: number, model: string, layer: string, Cin: number, Cout: number, product: Product): BenchEntry {
  const N = batch * T;
  const seed = N + Cin * 7 + Cout * 13;
  return {
    op: `linear.${product}`,
    shape: `${model} ${layer} B=${batch} N=${N} ${Cin}->${Cout}`,
    flops: 2 * N * Cin * Cout,
    quick: isQuick(batch, model, layer, product),
    heavy: isHeavy(batch, model, layer),
    setup(gpu) {
      const x = gpu.upload(randomF32(N * Cin, seed), 'x');
      const W = gpu.upload(randomF32(Cout * Cin, seed + 1), 'W');
      const b = gpu.upload(randomF32(Cout, seed + 2), 'b');
      const y = gpu.zeros(N * Cout, 'y/dy');
      const g = gpu.zeros(product === 'bwd.dW' ? Cout * Cin : N * Cin, 'dx/dW');
      return {
        run() {
          if (product === 'fwd') linearForward(gpu, y, x, W, b, N, Cin, Cout);
          else if (product === 'bwd.dx') linearBackward(gpu, g, null, null, y, x, W, N, Cin, Cout);
          else linearBackward(gpu, null, g, null, y, x, W, N, Cin, Cout);
        },
        dispose() {
          for (const buf of [x, W, b, y, g]) buf.destroy();
        },
      };
    },
    peer: {
      name: 'tfjs-webgpu',
      setup(tf) {
        const x = tf.tensor2d(randomF32(N * Cin, seed), [N, Cin]);
        const W = tf.tensor2d(randomF32(Cout * Cin, seed + 1), [Cout, Cin]);
        const b = tf.tensor1d(randomF32(Cout, seed + 2));
        const dy = tf.tensor2d(randomF32(N * Cout, seed + 3), [N, Cout]);
        return {
          run() {
            if (product === 'fwd') return tf.fused.matMul({ a: x, b: W, transposeB: true, bias: b });
            if (product === 'bwd.dx') return tf.matMul(dy, W); // [N,Cout] x [Cout,Cin]
            return tf.matMul(dy, x, true, false); // [Cout,N] x [N,Cin]
          },
          dispose() {
            tf.dispose([x, W, b, dy]);
          },
        };
      },
    },
  };
}

export const entries: BenchEntry[] = [8, 32].flatMap((batch) =>
  MODELS.flatMap(({ model, layers }) =>
    layers.flatMap(([layer, Cin, Cout]) =>
      (['fwd', 'bwd.dx', 'bwd.dW'] as const).map((p) => entry(batch, model, layer, Cin, Cout, p)),
    ),
  ),
);

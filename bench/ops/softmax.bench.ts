/**
 * softmax (src/ops/softmax.ts) at the attention shapes of ViT-S/16 (H=6) and ViT-B/16 (H=12):
 *   probabilities [R, L] with R = batch * H * T rows of L = T = 201 keys, scale 1.
 *   forward:  out = softmax(inp);   backward: dinp += out ⊙ (dout - rowsum(dout ⊙ out)).
 * Memory-bound: no FLOP figure. Ours runs once with each kernel layout (`row`, `wg`: see
 * src/ops/softmax.ts; the op picks one per adapter), each row with its own peer timing.
 * Peer: TensorFlow.js WebGPU `tf.softmax`, and for the backward the same formula in tf ops
 * (tfjs has no fused softmax gradient kernel; this is what its autodiff runs).
 */
import { softmaxBackward, softmaxForward, type SoftmaxVariant } from '../../src/ops/softmax';
import type { BenchEntry } from '../types';
import { randomF32 } from '../util';

const T = 201;
const MODELS = [
  { model: 'ViT-S', H: 6 },
  { model: 'ViT-B', H: 12 },
];

type Dir = 'fwd' | 'bwd';

function entry(batch: number, model: string, H: number, dir: Dir, variant: SoftmaxVariant): BenchEntry {
  const R = batch * H * T;
  const L = T;
  return {
    op: `softmax.${dir} [${variant}]`,
    shape: `${model} attn B=${batch} R=${R} L=${L}`,
    flops: null,
    quick: batch === 8 && model === 'ViT-S',
    heavy: batch === 32, // up to ~8 s per iteration per side on SwiftShader (`--all`)
    setup(gpu) {
      const before = gpu.variants.get('softmax');
      gpu.variants.set('softmax', variant);
      const inp = gpu.upload(randomF32(R * L, R + 1), 'inp/dout');
      const out = gpu.zeros(R * L, 'out');
      const dinp = gpu.zeros(R * L, 'dinp');
      if (dir === 'bwd') softmaxForward(gpu, out, inp, R, L); // the saved probabilities
      return {
        run() {
          if (dir === 'fwd') softmaxForward(gpu, out, inp, R, L);
          else softmaxBackward(gpu, dinp, inp, out, R, L);
        },
        dispose() {
          if (before === undefined) gpu.variants.delete('softmax');
          else gpu.variants.set('softmax', before);
          for (const b of [inp, out, dinp]) b.destroy();
        },
      };
    },
    peer: {
      name: 'tfjs-webgpu',
      setup(tf) {
        const x = tf.tensor2d(randomF32(R * L, R + 1), [R, L]);
        const y = tf.softmax(x);
        const dy = tf.tensor2d(randomF32(R * L, R + 2), [R, L]);
        return {
          run() {
            if (dir === 'fwd') return tf.softmax(x);
            return tf.mul(y, tf.sub(dy, tf.sum(tf.mul(dy, y), -1, true)));
          },
          dispose() {
            tf.dispose([x, y, dy]);
          },
        };
      },
    },
  };
}

export const entries: BenchEntry[] = [8, 32].flatMap((batch) =>
  MODELS.flatMap(({ model, H }) =>
    (['fwd', 'bwd'] as const).flatMap((dir) => (['row', 'wg'] as const).map((v) => entry(batch, model, H, dir, v))),
  ),
);

/**
 * attention (src/ops/attention.ts: strided batched matmuls + softmax, no copies) at the ViT-S/16
 * (H = 6) and ViT-B/16 (H = 12) attention shapes, Dh = 64, T = 201, batch 8 and 32:
 *   q, k, v, out [B, T, C], C = H * Dh; att [B, H, T, T] (P, saved by the forward).
 *   fwd: out = softmax(q k^T / sqrt(Dh)) v, per head;
 *   bwd: dq, dk, dv all accumulated (datt [B, H, T, T] scratch).
 * FLOPs (matmuls only): fwd 2 products of 2 B H T^2 Dh = 4 B T^2 C; bwd 4 products = 8 B T^2 C.
 * All in the default run (ViT-B batch-32 bwd, ~10 GFLOP, ~3 s on SwiftShader with the tiled
 * matmul kernels). No peer (ours only; tfjs has no fused attention).
 */
import { attentionAttSize, attentionBackward, attentionForward } from '../../src/ops/attention';
import type { BenchEntry } from '../types';
import { BATCHES, randomF32, VIT_SHAPES, VIT_T } from '../util';

type Dir = 'fwd' | 'bwd';
const T = VIT_T;

function entry(batch: number, model: string, C: number, H: number, dir: Dir): BenchEntry {
  const n = batch * T * C;
  const att = attentionAttSize(batch, T, H);
  return {
    op: `attention.${dir}`,
    shape: `${model} B=${batch} T=${T} H=${H} Dh=${C / H}`,
    flops: (dir === 'fwd' ? 4 : 8) * batch * T * T * C,
    quick: batch === 8 && model === 'ViT-S' && dir === 'fwd',
    setup(gpu) {
      const [q, k, v, dout] = [1, 2, 3, 4].map((i) => gpu.upload(randomF32(n, n + i), `qkv/dout ${i}`));
      const out = gpu.zeros(n, 'out');
      const P = gpu.zeros(att, 'att');
      const grads = dir === 'bwd' ? [gpu.zeros(n, 'dq'), gpu.zeros(n, 'dk'), gpu.zeros(n, 'dv')] : [];
      const datt = dir === 'bwd' ? gpu.zeros(att, 'datt') : null;
      attentionForward(gpu, out, P, q, k, v, batch, T, C, H); // the saved P
      return {
        run() {
          if (dir === 'fwd') attentionForward(gpu, out, P, q, k, v, batch, T, C, H);
          else attentionBackward(gpu, grads[0], grads[1], grads[2], datt!, dout, q, k, v, P, batch, T, C, H);
        },
        dispose() {
          for (const b of [q, k, v, dout, out, P, ...grads, datt]) b?.destroy();
        },
      };
    },
  };
}

export const entries: BenchEntry[] = BATCHES.flatMap((batch) =>
  VIT_SHAPES.flatMap(({ model, C, H }) => (['fwd', 'bwd'] as const).map((d) => entry(batch, model, C, H, d))),
);

/**
 * infonce (src/ops/infonce.ts: InfoNCE on L2-normalized embeddings, in-batch negatives,
 * bidirectional 'mean', tau 0.05), forward + backward in one iteration, as in a training step:
 *   q, p [B, D] with B = 32 / 128, D = 384 (ViT-S) / 768 (ViT-B); logits, dlogits [B, B];
 *   dq, dp [B, D] accumulated.
 * FLOPs (matmuls only): logits 2 B^2 D, dq and dp 2 B^2 D each: 6 B^2 D. Tiny problems: mostly
 * dispatch overhead. No peer (ours only).
 */
import { infonceBackward, infonceForward, infonceScratch } from '../../src/ops/infonce';
import type { BenchEntry } from '../types';
import { normalizeRows, randomF32 } from '../util';

function entry(B: number, D: number): BenchEntry {
  return {
    op: 'infonce.fwd+bwd',
    shape: `B=${B} D=${D} bidirectional tau=0.05`,
    flops: 6 * B * B * D,
    quick: B === 32 && D === 384,
    setup(gpu) {
      const q = gpu.upload(normalizeRows(randomF32(B * D, B + D), B, D), 'q');
      const p = gpu.upload(normalizeRows(randomF32(B * D, B + D + 1), B, D), 'p');
      const dq = gpu.zeros(B * D, 'dq');
      const dp = gpu.zeros(B * D, 'dp');
      const loss = gpu.zeros(1, 'loss');
      const scratch = infonceScratch(gpu, B);
      const opts = { tau: 0.05, bidirectional: 'mean' as const };
      return {
        run() {
          infonceForward(gpu, loss, scratch, q, p, null, B, D, opts);
          infonceBackward(gpu, dq, dp, scratch, q, p, null, B, D, opts);
        },
        dispose() {
          for (const b of [q, p, dq, dp, loss, scratch.logits, scratch.stats, scratch.dlogits]) b.destroy();
        },
      };
    },
  };
}

export const entries: BenchEntry[] = [32, 128].flatMap((B) => [384, 768].map((D) => entry(B, D)));

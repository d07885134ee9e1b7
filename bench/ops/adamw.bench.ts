/**
 * adamw (src/ops/adamw.ts: one AdamW step, in place, with global grad-norm clipping as in
 * training) and sumSquares (the squared gradient norm that the clipping reads) at two sizes:
 *   LoRA of ViT-S/16, r = 8 on q_proj and v_proj of the 12 layers: 12 * 2 * 8 * (384 + 384)
 *     = 147,456 parameters (one buffer; the trainer steps one buffer per tensor, so more
 *     dispatches of the same total size);
 *   the full ViT-S/16: 21,596,544 parameters (docs/model.md#dinov3-config).
 * param, m, v, grad [n]. Memory-bound: no FLOP figure; GB/s from adamw 4 (7 n) bytes (param, m,
 * v, grad read; param, m, v written), sumSquares 4 n. No peer (ours only).
 */
import { adamwUpdate, sumSquares } from '../../src/ops/adamw';
import type { BenchEntry } from '../types';
import { randomF32 } from '../util';

const SIZES: [label: string, n: number][] = [
  ['ViT-S LoRA r=8 q,v', 12 * 2 * 8 * (384 + 384)],
  ['ViT-S full', 21_596_544],
];

type Op = 'adamw' | 'sumSquares';

function entry(label: string, n: number, op: Op): BenchEntry {
  return {
    op,
    shape: `${label} n=${n}`,
    flops: null,
    bytes: 4 * (op === 'adamw' ? 7 * n : n),
    quick: n < 1e6 && op === 'adamw',
    setup(gpu) {
      const param = gpu.upload(randomF32(n, n), 'param');
      const grad = gpu.upload(randomF32(n, n + 1), 'grad');
      const m = gpu.zeros(n, 'm');
      const v = gpu.zeros(n, 'v');
      const sumSq = gpu.upload(new Float32Array([n / 3]), 'sumSq');
      let step = 0;
      return {
        run() {
          if (op === 'sumSquares') {
            sumSquares(gpu, sumSq, grad, n);
            return;
          }
          step += 1;
          adamwUpdate(gpu, param, m, v, grad, n, {
            lr: 1e-4,
            step,
            weightDecay: 0.05,
            clip: { sumSq, maxNorm: 1 },
          });
        },
        dispose() {
          for (const b of [param, grad, m, v, sumSq]) b.destroy();
        },
      };
    },
  };
}

export const entries: BenchEntry[] = SIZES.flatMap(([label, n]) =>
  (['adamw', 'sumSquares'] as const).map((op) => entry(label, n, op)),
);

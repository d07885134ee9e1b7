/**
 * residual (src/ops/residual.ts, residual add with LayerScale) at the ViT-S/16 and ViT-B/16
 * token shapes, batch 8 and 32: x, y [N, C], N = batch * T, T = 201, lambda [C].
 *   fwd: x += lambda ⊙ y (in place on the residual stream, as in the model);
 *   bwd: dy += lambda ⊙ dout and dlambda += sum_n dout ⊙ y (dx = dout needs no kernel).
 * Memory-bound: no FLOP figure; GB/s from fwd 4 (3 N C) bytes (x, y read; x written), bwd
 * 4 (5 N C) (the dy kernel reads dout and dy and writes dy; the dlambda kernel reads dout and y).
 * No peer (ours only).
 */
import { residualBackward, residualForward } from '../../src/ops/residual';
import type { BenchEntry } from '../types';
import { BATCHES, randomF32, VIT_SHAPES, VIT_T } from '../util';

type Dir = 'fwd' | 'bwd';

function entry(batch: number, model: string, C: number, dir: Dir): BenchEntry {
  const N = batch * VIT_T;
  return {
    op: `residual.${dir}`,
    shape: `${model} B=${batch} N=${N} C=${C}`,
    flops: null,
    bytes: 4 * (dir === 'fwd' ? 3 * N * C : 5 * N * C),
    quick: batch === 8 && model === 'ViT-S' && dir === 'fwd',
    setup(gpu) {
      const x = gpu.upload(randomF32(N * C, N + C), 'x/dout');
      const y = gpu.upload(randomF32(N * C, N + C + 1), 'y');
      const lambda = gpu.upload(randomF32(C, C + 2), 'lambda');
      const dy = gpu.zeros(N * C, 'dy');
      const dlambda = gpu.zeros(C, 'dlambda');
      return {
        run() {
          if (dir === 'fwd') residualForward(gpu, x, x, y, lambda, N, C);
          else residualBackward(gpu, dy, dlambda, x, y, lambda, N, C);
        },
        dispose() {
          for (const b of [x, y, lambda, dy, dlambda]) b.destroy();
        },
      };
    },
  };
}

export const entries: BenchEntry[] = BATCHES.flatMap((batch) =>
  VIT_SHAPES.flatMap(({ model, C }) => (['fwd', 'bwd'] as const).map((d) => entry(batch, model, C, d))),
);

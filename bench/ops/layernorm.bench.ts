/**
 * layernorm (src/ops/layernorm.ts) at the ViT-S/16 and ViT-B/16 token shapes, batch 8 and 32:
 *   inp, out [N, C] with N = batch * T rows, T = 201; weight, bias [C]; stats [N, 2] saved.
 *   fwd: out = LN(inp);  bwd: dinp += ..., dweight += ..., dbias += ... (all three gradients).
 * Memory-bound: no FLOP figure; GB/s from the bytes that must move at least once:
 *   fwd 4 (2 N C + 2 N);  bwd 4 (4 N C + 2 N) (dout, inp read; dinp read and written).
 * No peer (ours only).
 */
import { layernormBackward, layernormForward } from '../../src/ops/layernorm';
import type { BenchEntry } from '../types';
import { BATCHES, randomF32, VIT_SHAPES, VIT_T } from '../util';

type Dir = 'fwd' | 'bwd';

function entry(batch: number, model: string, C: number, dir: Dir): BenchEntry {
  const N = batch * VIT_T;
  return {
    op: `layernorm.${dir}`,
    shape: `${model} B=${batch} N=${N} C=${C}`,
    flops: null,
    bytes: 4 * (dir === 'fwd' ? 2 * N * C + 2 * N : 4 * N * C + 2 * N),
    quick: batch === 8 && model === 'ViT-S',
    setup(gpu) {
      const inp = gpu.upload(randomF32(N * C, N + C), 'inp');
      const w = gpu.upload(randomF32(C, C + 1), 'weight');
      const b = gpu.upload(randomF32(C, C + 2), 'bias');
      const out = gpu.zeros(N * C, 'out/dout');
      const stats = gpu.zeros(2 * N, 'mean, rstd');
      const dinp = gpu.zeros(N * C, 'dinp');
      const dw = gpu.zeros(C, 'dweight');
      const db = gpu.zeros(C, 'dbias');
      layernormForward(gpu, out, stats, inp, w, b, N, C, 1e-5); // the saved mean, rstd
      return {
        run() {
          if (dir === 'fwd') layernormForward(gpu, out, stats, inp, w, b, N, C, 1e-5);
          else layernormBackward(gpu, dinp, dw, db, out, inp, w, stats, N, C);
        },
        dispose() {
          for (const x of [inp, w, b, out, stats, dinp, dw, db]) x.destroy();
        },
      };
    },
  };
}

export const entries: BenchEntry[] = BATCHES.flatMap((batch) =>
  VIT_SHAPES.flatMap(({ model, C }) => (['fwd', 'bwd'] as const).map((d) => entry(batch, model, C, d))),
);

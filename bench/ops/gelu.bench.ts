/**
 * gelu (src/ops/gelu.ts, exact erf GELU) on the MLP pre-activation of ViT-S/16 and ViT-B/16,
 * batch 8 and 32: n = batch * T * I values, T = 201, I = 4C (1536 / 3072).
 *   fwd: out = gelu(inp);  bwd: dinp += dout * gelu'(inp) (accumulating, as in training).
 * Memory-bound: no FLOP figure; GB/s from fwd 4 (2 n), bwd 4 (4 n) bytes (dout, inp read; dinp
 * read and written). No peer (ours only).
 */
import { geluBackward, geluForward } from '../../src/ops/gelu';
import type { BenchEntry } from '../types';
import { BATCHES, randomF32, VIT_SHAPES, VIT_T } from '../util';

type Dir = 'fwd' | 'bwd';

function entry(batch: number, model: string, I: number, dir: Dir): BenchEntry {
  const n = batch * VIT_T * I;
  return {
    op: `gelu.${dir}`,
    shape: `${model} mlp B=${batch} n=${n} (N=${batch * VIT_T} x ${I})`,
    flops: null,
    bytes: 4 * (dir === 'fwd' ? 2 * n : 4 * n),
    quick: batch === 8 && model === 'ViT-S',
    setup(gpu) {
      const inp = gpu.upload(
        randomF32(n, n + 1).map((v) => 4 * v),
        'inp',
      );
      const dout = gpu.upload(randomF32(n, n + 2), 'out/dout');
      const dinp = gpu.zeros(n, 'dinp');
      return {
        run() {
          if (dir === 'fwd') geluForward(gpu, dout, inp, n);
          else geluBackward(gpu, dinp, dout, inp, n);
        },
        dispose() {
          for (const x of [inp, dout, dinp]) x.destroy();
        },
      };
    },
  };
}

export const entries: BenchEntry[] = BATCHES.flatMap((batch) =>
  VIT_SHAPES.flatMap(({ model, I }) => (['fwd', 'bwd'] as const).map((d) => entry(batch, model, I, d))),
);

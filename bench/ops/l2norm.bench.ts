/**
 * l2norm (src/ops/l2norm.ts, F.normalize over the last dim) at the retrieval-head shapes:
 *   training embeddings [N, D] with N = 32 / 128 rows (the InfoNCE batch), D = 384 / 768;
 *   and a gallery [60502, 768] (normalizing a whole index once, forward only).
 *   fwd: out = inp / max(||inp||, eps), norm [N] saved;  bwd: dinp += (dout - out (out.dout)) / norm.
 * Memory-bound: no FLOP figure; GB/s from fwd 4 (2 N D + N), bwd 4 (4 N D + N) bytes.
 * The small shapes measure little more than one dispatch. No peer (ours only).
 */
import { l2normBackward, l2normForward } from '../../src/ops/l2norm';
import type { BenchEntry } from '../types';
import { randomF32 } from '../util';

type Dir = 'fwd' | 'bwd';

function entry(N: number, D: number, dir: Dir, what: string): BenchEntry {
  return {
    op: `l2norm.${dir}`,
    shape: `${what} N=${N} D=${D}`,
    flops: null,
    bytes: 4 * (dir === 'fwd' ? 2 * N * D + N : 4 * N * D + N),
    quick: N === 32 && D === 384,
    setup(gpu) {
      const inp = gpu.upload(randomF32(N * D, N + D), 'inp');
      const dout = gpu.upload(randomF32(N * D, N + D + 1), 'dout');
      const out = gpu.zeros(N * D, 'out');
      const norm = gpu.zeros(N, 'norm');
      const dinp = gpu.zeros(N * D, 'dinp');
      l2normForward(gpu, out, norm, inp, N, D); // the saved out, norm
      return {
        run() {
          if (dir === 'fwd') l2normForward(gpu, out, norm, inp, N, D);
          else l2normBackward(gpu, dinp, dout, out, norm, N, D);
        },
        dispose() {
          for (const b of [inp, dout, out, norm, dinp]) b.destroy();
        },
      };
    },
  };
}

export const entries: BenchEntry[] = [
  ...[32, 128].flatMap((N) =>
    [384, 768].flatMap((D) => (['fwd', 'bwd'] as const).map((d) => entry(N, D, d, 'embeddings'))),
  ),
  entry(60502, 768, 'fwd', 'gallery'),
];

/**
 * rope (src/ops/rope.ts, DINOv3 2-D RoPE) on q (or k) [B, T, C] of ViT-S/16 (H = 6) and
 * ViT-B/16 (H = 12), Dh = 64, T = 201 = 5 prefix rows + 196 patch rows (14 x 14 grid), batch 8
 * and 32. In place; the model runs it twice per layer (q and k), the entry times one call.
 *   fwd: x = R x on the patch rows;  bwd: dx = R^T dx.
 * Memory-bound: no FLOP figure; GB/s from 4 (2 B P C + 2 P Dh) bytes (patch rows read and
 * written, tables read). No peer (ours only).
 */
import { ropeBackward, ropeForward, ropeTables } from '../../src/ops/rope';
import type { BenchEntry } from '../types';
import { BATCHES, randomF32, VIT_SHAPES, VIT_T } from '../util';

type Dir = 'fwd' | 'bwd';
const T = VIT_T;
const GRID = 14;
const PREFIX = T - GRID * GRID;

function entry(batch: number, model: string, C: number, H: number, dir: Dir): BenchEntry {
  const Dh = C / H;
  const P = GRID * GRID;
  return {
    op: `rope.${dir}`,
    shape: `${model} q B=${batch} T=${T} H=${H} Dh=${Dh} grid ${GRID}x${GRID}`,
    flops: null,
    bytes: 4 * (2 * batch * P * C + 2 * P * Dh),
    quick: batch === 8 && model === 'ViT-S' && dir === 'fwd',
    setup(gpu) {
      const x = gpu.upload(randomF32(batch * T * C, batch * C + 7), 'x');
      const tables = ropeTables(GRID, GRID, Dh, 100);
      const cos = gpu.upload(tables.cos, 'cos');
      const sin = gpu.upload(tables.sin, 'sin');
      return {
        run() {
          if (dir === 'fwd') ropeForward(gpu, x, cos, sin, batch, T, C, H, PREFIX);
          else ropeBackward(gpu, x, cos, sin, batch, T, C, H, PREFIX);
        },
        dispose() {
          for (const b of [x, cos, sin]) b.destroy();
        },
      };
    },
  };
}

export const entries: BenchEntry[] = BATCHES.flatMap((batch) =>
  VIT_SHAPES.flatMap(({ model, C, H }) => (['fwd', 'bwd'] as const).map((d) => entry(batch, model, C, H, d))),
);

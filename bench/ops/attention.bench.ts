/**
 * attention (src/ops/attention.ts) at the DINOv3 ViT-S/16 (H = 6) and ViT-B/16 (H = 12)
 * attention shapes at 224 px: T = 201 (1 CLS + 4 registers + 14x14 patches, RoPE on the
 * patches), Dh = 64, batch 8 (the gradient-cache chunk; batch 32 with --all):
 *   ours: the packed API, qkv [B*T, 3C] -> out [B*T, C] + lse [B*H*T], RoPE on load; the backward
 *         writes dqkv [B*T, 3C], recomputing P (the adapter's default variant: 'flash' on GPUs,
 *         'matmul' on software adapters; the row's note says which ran);
 *   peer "unfused (P saved)": the path before it on the same device: RoPE passes on q and k
 *         [B, T, C] (rope.ts), S = scale Q K^T, softmax in place, O = P V, with P [B, H, T, T]
 *         saved per layer; backward from the saved P, then the RoPE backward on dq and dk.
 * FLOPs counted as the unfused algorithm's matmuls for both sides (fwd 2 products = 4 B T^2 C,
 * bwd 4 products = 8 B T^2 C), so GFLOP/s compare like for like (ours' backward also recomputes
 * the scores: 2 B T^2 C more arithmetic than counted).
 */
import {
  attentionAttSize,
  attentionBackward,
  attentionBackwardSavedP,
  attentionForward,
  attentionForwardSavedP,
  attentionLseSize,
  attentionVariant,
  type AttentionShape,
} from '../../src/ops/attention';
import { ropeBackward, ropeForward, ropeTables } from '../../src/ops/rope';
import type { BenchEntry } from '../types';
import { BATCHES, randomF32, VIT_SHAPES, VIT_T } from '../util';

type Dir = 'fwd' | 'bwd';
const T = VIT_T;
const GRID = 14;
const PREFIX = T - GRID * GRID;

function entry(batch: number, model: string, C: number, H: number, dir: Dir): BenchEntry {
  const Dh = C / H;
  const n = batch * T * C;
  return {
    op: `attention.${dir}`,
    shape: `${model} B=${batch} T=${T} H=${H} Dh=${Dh} rope`,
    flops: (dir === 'fwd' ? 4 : 8) * batch * T * T * C,
    quick: batch === 8 && model === 'ViT-S' && dir === 'fwd',
    heavy: batch !== 8,
    setup(gpu) {
      const t = ropeTables(GRID, GRID, Dh);
      const [cos, sin] = [gpu.upload(t.cos, 'cos'), gpu.upload(t.sin, 'sin')];
      const qkv = gpu.upload(randomF32(3 * n, n), 'qkv');
      const dout = gpu.upload(randomF32(n, n + 1), 'dout');
      const out = gpu.zeros(n, 'out');
      const lse = gpu.zeros(attentionLseSize(batch, T, H), 'lse');
      const dqkv = dir === 'bwd' ? gpu.zeros(3 * n, 'dqkv') : null;
      const shape: AttentionShape = { B: batch, T, H, Dh, rope: { cos, sin, prefix: PREFIX } };
      attentionForward(gpu, out, lse, qkv, shape); // the backward's out and lse
      return {
        note: `variant ${attentionVariant(gpu, shape)}`,
        run() {
          if (dir === 'fwd') attentionForward(gpu, out, lse, qkv, shape);
          else attentionBackward(gpu, dqkv!, dout, out, lse, qkv, shape);
        },
        dispose() {
          for (const b of [cos, sin, qkv, dout, out, lse, dqkv]) b?.destroy();
        },
      };
    },
    customPeer: {
      name: 'unfused (P saved)',
      setup(gpu) {
        const t = ropeTables(GRID, GRID, Dh);
        const [cos, sin] = [gpu.upload(t.cos, 'cos'), gpu.upload(t.sin, 'sin')];
        const [q, k, v, dout] = [1, 2, 3, 4].map((i) => gpu.upload(randomF32(n, n + i), `q/k/v/dout ${i}`));
        const out = gpu.zeros(n, 'out');
        const att = gpu.zeros(attentionAttSize(batch, T, H), 'att');
        const datt = dir === 'bwd' ? gpu.zeros(attentionAttSize(batch, T, H), 'datt') : null;
        const [dq, dk, dv] = dir === 'bwd' ? [1, 2, 3].map(() => gpu.zeros(n, 'dq/dk/dv')) : [];
        const fwd = () => {
          // RoPE in place: the rotation of rotated q, k costs the same as of fresh ones.
          ropeForward(gpu, q, cos, sin, batch, T, C, H, PREFIX);
          ropeForward(gpu, k, cos, sin, batch, T, C, H, PREFIX);
          attentionForwardSavedP(gpu, out, att, q, k, v, batch, T, C, H);
        };
        fwd(); // the saved P of the backward
        return {
          async run() {
            if (dir === 'fwd') {
              fwd();
            } else {
              attentionBackwardSavedP(gpu, dq, dk, dv, datt!, dout, q, k, v, att, batch, T, C, H);
              ropeBackward(gpu, dq, cos, sin, batch, T, C, H, PREFIX);
              ropeBackward(gpu, dk, cos, sin, batch, T, C, H, PREFIX);
            }
            await gpu.sync();
          },
          dispose() {
            for (const b of [cos, sin, q, k, v, dout, out, att, datt, dq, dk, dv]) b?.destroy();
          },
        };
      },
    },
  };
}

export const entries: BenchEntry[] = BATCHES.flatMap((batch) =>
  VIT_SHAPES.flatMap(({ model, C, H }) => (['fwd', 'bwd'] as const).map((d) => entry(batch, model, C, H, d))),
);

/**
 * patchembed (src/ops/patchembed.ts: im2col + matmul) at 224 x 224, patch 16 (14 x 14 = 196
 * patches of 3 * 16 * 16 = 768 values), into the token rows 5..200 of [B, 201, C] (after CLS and
 * 4 registers), C = 384 (ViT-S/16) / 768 (ViT-B/16), batch 8 and 32:
 *   fwd: out[b, 5 + q] = patch(b, q) W^T + bias;  bwd: dweight += ..., dbias += ... (no pixel
 *   gradient; LoRA training never runs it: docs/model.md#backward, it is timed for completeness).
 * FLOPs: 2 B P 768 C per direction (the matmul). All in the default run (~1.3 s per iteration at
 * most on SwiftShader). No peer (ours only).
 */
import { patchembedBackward, patchembedForward, type PatchembedShape } from '../../src/ops/patchembed';
import type { BenchEntry } from '../types';
import { BATCHES, randomF32, VIT_SHAPES } from '../util';

type Dir = 'fwd' | 'bwd';
const IMG = 224;
const PATCH = 16;
const PREFIX = 5;

function entry(batch: number, model: string, C: number, dir: Dir): BenchEntry {
  const P = (IMG / PATCH) ** 2;
  const K = 3 * PATCH * PATCH;
  const T = PREFIX + P;
  const s: PatchembedShape = { B: batch, Himg: IMG, Wimg: IMG, patch: PATCH, C, rowOffset: PREFIX, T };
  return {
    op: `patchembed.${dir}`,
    shape: `${model} B=${batch} ${IMG}x${IMG} p=${PATCH} -> [${batch},${T},${C}]`,
    flops: 2 * batch * P * K * C,
    quick: false,
    setup(gpu) {
      const pixels = gpu.upload(randomF32(batch * 3 * IMG * IMG, batch + C), 'pixels');
      const w = gpu.upload(randomF32(C * K, C + 1), 'weight');
      const b = gpu.upload(randomF32(C, C + 2), 'bias');
      const out = gpu.upload(randomF32(batch * T * C, C + 3), 'out/dout');
      const dw = gpu.zeros(C * K, 'dweight');
      const db = gpu.zeros(C, 'dbias');
      return {
        run() {
          if (dir === 'fwd') patchembedForward(gpu, out, pixels, w, b, s);
          else patchembedBackward(gpu, dw, db, out, pixels, s);
        },
        dispose() {
          for (const x of [pixels, w, b, out, dw, db]) x.destroy();
        },
      };
    },
  };
}

export const entries: BenchEntry[] = BATCHES.flatMap((batch) =>
  VIT_SHAPES.flatMap(({ model, C }) => (['fwd', 'bwd'] as const).map((d) => entry(batch, model, C, d))),
);

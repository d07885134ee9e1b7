/**
 * CPU reference for topk, in float64. Same name and argument order as src/ops/topk.ts:
 *   queries [Q,D], gallery [G,D] -> indices [Q,K] (u32), scores [Q,K]
 * Scores every gallery row, sorts by (descending score, ascending index), keeps the first K;
 * missing entries are (TOPK_NONE, -Infinity). Only excludeSelf / selfOffset of the options
 * matter here (chunking does not change the result).
 */
import type { TopkOpts } from '../ops/topk';

/** An empty slot's index, the GPU path's TOPK_NONE (tests compare the two). */
const NONE = 0xffffffff;

export function topkForward(
  indices: Uint32Array,
  scores: Float64Array,
  queries: Float64Array,
  gallery: Float64Array,
  Q: number,
  G: number,
  D: number,
  K: number,
  opts: TopkOpts = {},
): void {
  const selfOffset = opts.selfOffset ?? 0;
  for (let q = 0; q < Q; q++) {
    const cand: { g: number; s: number }[] = [];
    for (let g = 0; g < G; g++) {
      if (opts.excludeSelf && g === q + selfOffset) continue;
      let s = 0;
      for (let d = 0; d < D; d++) s += queries[q * D + d] * gallery[g * D + d];
      cand.push({ g, s });
    }
    cand.sort((a, b) => b.s - a.s || a.g - b.g);
    for (let k = 0; k < K; k++) {
      indices[q * K + k] = k < cand.length ? cand[k].g : NONE;
      scores[q * K + k] = k < cand.length ? cand[k].s : -Infinity;
    }
  }
}

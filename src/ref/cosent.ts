/**
 * CPU reference for cosent, in float64. Same names and argument order as src/ops/cosent.ts:
 *   q, p [B,D]; labels [B] or null; loss [1] (written); backward ADDS into dq, dp [B,D].
 * Written from vembed-factory's definition: sim = q p^T, x_ij = scale (sim_ij - sim_ii) over the
 * valid pairs (j != i, and label_j != label_i with labels), loss = logsumexp({0} ∪ {x_ij}).
 * The scratch layout matches the GPU's (stats = row max, row sum of exp(x - row max), lse).
 */
import type { CosentOpts, CosentScratch } from '../ops/cosent';

export function cosentScratch(B: number): CosentScratch<Float64Array> {
  return {
    sim: new Float64Array(B * B),
    stats: new Float64Array(2 * B + 1),
    dsim: new Float64Array(B * B),
  };
}

function isPair(labels: Uint32Array | null, i: number, j: number): boolean {
  return labels ? labels[i] !== labels[j] : i !== j;
}

export function cosentForward(
  loss: Float64Array,
  scratch: CosentScratch<Float64Array>,
  q: Float64Array,
  p: Float64Array,
  labels: Uint32Array | null,
  B: number,
  D: number,
  opts: CosentOpts = {},
): void {
  const scale = opts.scale ?? 20;
  const S = scratch.sim;
  const st = scratch.stats;
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += q[i * D + d] * p[j * D + d];
      S[i * B + j] = s;
    }
  }
  // all scores of the logsumexp: the 0 term, then every valid pair
  let mx = 0;
  for (let i = 0; i < B; i++) {
    let rm = -Infinity;
    for (let j = 0; j < B; j++) {
      if (isPair(labels, i, j)) rm = Math.max(rm, scale * (S[i * B + j] - S[i * B + i]));
    }
    let rs = 0;
    for (let j = 0; j < B; j++) {
      if (isPair(labels, i, j)) rs += Math.exp(scale * (S[i * B + j] - S[i * B + i]) - rm);
    }
    st[i] = rs > 0 ? rm : 0;
    st[B + i] = rs;
    if (rs > 0) mx = Math.max(mx, rm);
  }
  let sum = Math.exp(-mx);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      if (isPair(labels, i, j)) sum += Math.exp(scale * (S[i * B + j] - S[i * B + i]) - mx);
    }
  }
  st[2 * B] = mx + Math.log(sum);
  loss[0] = st[2 * B];
}

export function cosentBackward(
  dq: Float64Array,
  dp: Float64Array,
  scratch: CosentScratch<Float64Array>,
  q: Float64Array,
  p: Float64Array,
  labels: Uint32Array | null,
  B: number,
  D: number,
  opts: CosentOpts = {},
): void {
  const scale = opts.scale ?? 20;
  const gs = (opts.dlossScale ?? 1) * scale;
  const S = scratch.sim;
  const lse = scratch.stats[2 * B];
  const G = scratch.dsim;
  G.fill(0);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      if (!isPair(labels, i, j)) continue;
      const w = Math.exp(scale * (S[i * B + j] - S[i * B + i]) - lse);
      G[i * B + j] += gs * w;
      G[i * B + i] -= gs * w;
    }
  }
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      const v = G[i * B + j];
      if (v === 0) continue;
      for (let d = 0; d < D; d++) {
        dq[i * D + d] += v * p[j * D + d];
        dp[j * D + d] += v * q[i * D + d];
      }
    }
  }
}

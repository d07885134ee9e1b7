/**
 * CPU reference for triplet, in float64. Same names and argument order as src/ops/triplet.ts:
 *   q, p [B,D]; labels [B] or null; loss [1] (written); backward ADDS into dq, dp [B,D].
 * Written from vembed-factory's definition (sim = q p^T, hardest in-batch negative by max, the
 * lowest index on ties, loss = mean relu(hardest - pos + margin)), with same-label items
 * excluded from the negatives. scratch.hard holds the index of an active row's hardest
 * negative, or -1.
 */
import type { TripletOpts, TripletScratch } from '../ops/triplet';

export function tripletScratch(B: number): TripletScratch<Float64Array> {
  return {
    sim: new Float64Array(B * B),
    hard: new Float64Array(B),
    dsim: new Float64Array(B * B),
  };
}

function isNeg(labels: Uint32Array | null, i: number, j: number): boolean {
  return labels ? labels[i] !== labels[j] : i !== j;
}

export function tripletForward(
  loss: Float64Array,
  scratch: TripletScratch<Float64Array>,
  q: Float64Array,
  p: Float64Array,
  labels: Uint32Array | null,
  B: number,
  D: number,
  opts: TripletOpts = {},
): void {
  const margin = opts.margin ?? 0.5;
  const S = scratch.sim;
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += q[i * D + d] * p[j * D + d];
      S[i * B + j] = s;
    }
  }
  let total = 0;
  for (let i = 0; i < B; i++) {
    let arg = -1;
    for (let j = 0; j < B; j++) {
      if (isNeg(labels, i, j) && (arg < 0 || S[i * B + j] > S[i * B + arg])) arg = j;
    }
    scratch.hard[i] = -1;
    if (arg < 0) continue; // no negative: adds 0, still counted in the mean
    const h = S[i * B + arg] - S[i * B + i] + margin;
    if (h > 0) {
      total += h;
      scratch.hard[i] = arg;
    }
  }
  loss[0] = total / B;
}

export function tripletBackward(
  dq: Float64Array,
  dp: Float64Array,
  scratch: TripletScratch<Float64Array>,
  q: Float64Array,
  p: Float64Array,
  labels: Uint32Array | null,
  B: number,
  D: number,
  opts: TripletOpts = {},
): void {
  const g = (opts.dlossScale ?? 1) / B;
  const G = scratch.dsim;
  G.fill(0);
  for (let i = 0; i < B; i++) {
    const n = scratch.hard[i];
    if (n < 0) continue;
    G[i * B + n] += g;
    G[i * B + i] -= g;
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

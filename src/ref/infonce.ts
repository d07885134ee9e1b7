/**
 * CPU reference for infonce, in float64. Same names and argument order as src/ops/infonce.ts:
 *   q, p [B,D]; labels [B] or null; loss [1] (written); backward ADDS into dq, dp [B,D].
 * Written directly from the definition: logits = q p^T / tau, log-softmax per row (and per
 * column when bidirectional), positives M_ij = [label_i == label_j] or i == j.
 */
import type { InfonceOpts, InfonceScratch } from '../ops/infonce';

/** bidirectional: false = q -> p only (weight 1); true or 'mean' = the mean of both directions; 'sum' = their sum. */
function directions(opts: InfonceOpts): { bidir: boolean; w: number } {
  const b = opts.bidirectional ?? false;
  return { bidir: b !== false, w: b === false || b === 'sum' ? 1 : 0.5 };
}

export function infonceScratch(B: number): InfonceScratch<Float64Array> {
  return {
    logits: new Float64Array(B * B),
    stats: new Float64Array(3 * B),
    dlogits: new Float64Array(B * B),
  };
}

function isPos(labels: Uint32Array | null, i: number, j: number): boolean {
  return labels ? labels[i] === labels[j] : i === j;
}

/** logsumexp of n values v(k), k < n. */
function lse(n: number, v: (k: number) => number): number {
  let mx = -Infinity;
  for (let k = 0; k < n; k++) mx = Math.max(mx, v(k));
  let s = 0;
  for (let k = 0; k < n; k++) s += Math.exp(v(k) - mx);
  return mx + Math.log(s);
}

export function infonceForward(
  loss: Float64Array,
  scratch: InfonceScratch<Float64Array>,
  q: Float64Array,
  p: Float64Array,
  labels: Uint32Array | null,
  B: number,
  D: number,
  opts: InfonceOpts = {},
): void {
  const tau = opts.tau ?? 0.05;
  const { bidir, w } = directions(opts);
  const L = scratch.logits;
  const st = scratch.stats;
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += q[i * D + d] * p[j * D + d];
      L[i * B + j] = s / tau;
    }
  }
  let total = 0;
  for (let i = 0; i < B; i++) {
    let cnt = 0;
    for (let j = 0; j < B; j++) if (isPos(labels, i, j)) cnt++;
    st[2 * B + i] = cnt;
    // query -> positive: row i of the logits
    st[i] = lse(B, (j) => L[i * B + j]);
    let logp = 0;
    for (let j = 0; j < B; j++) if (isPos(labels, i, j)) logp += L[i * B + j] - st[i];
    total -= logp / cnt;
    if (bidir) {
      // positive -> query: row i of logits^T (column i of the logits)
      st[B + i] = lse(B, (k) => L[k * B + i]);
      let logpc = 0;
      for (let k = 0; k < B; k++) if (isPos(labels, i, k)) logpc += L[k * B + i] - st[B + i];
      total -= logpc / cnt;
    }
  }
  loss[0] = (w * total) / B;
}

export function infonceBackward(
  dq: Float64Array,
  dp: Float64Array,
  scratch: InfonceScratch<Float64Array>,
  q: Float64Array,
  p: Float64Array,
  labels: Uint32Array | null,
  B: number,
  D: number,
  opts: InfonceOpts = {},
): void {
  const tau = opts.tau ?? 0.05;
  const { bidir, w } = directions(opts);
  const s = ((opts.dlossScale ?? 1) * w) / B;
  const L = scratch.logits;
  const st = scratch.stats;
  const G = scratch.dlogits;
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      const m = isPos(labels, i, j) ? 1 : 0;
      let g = Math.exp(L[i * B + j] - st[i]) - m / st[2 * B + i];
      if (bidir) g += Math.exp(L[i * B + j] - st[B + j]) - m / st[2 * B + j];
      G[i * B + j] = s * g;
    }
  }
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      const g = G[i * B + j] / tau;
      for (let d = 0; d < D; d++) {
        dq[i * D + d] += g * p[j * D + d];
        dp[j * D + d] += g * q[i * D + d];
      }
    }
  }
}

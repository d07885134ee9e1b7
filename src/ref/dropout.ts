/**
 * CPU reference of the counter-based dropout mask (shaders/ops/dropout.wgsl): the same integer
 * hash, so masks agree bit for bit between GPU and CPU.
 */
function pcg(v: number): number {
  const s = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

export function dropoutKeep(seed0: number, seed1: number, i: number, threshold: number): boolean {
  return pcg((pcg((pcg(seed0) ^ seed1) >>> 0) ^ i) >>> 0) >= threshold;
}

export function dropoutThreshold(p: number): number {
  return Math.min(0xffffffff, Math.round(p * 2 ** 32));
}

/** out = dropout(inp) (or out += with accum), mask from (seed0, seed1, index). */
export function dropoutForward(
  out: Float64Array,
  inp: Float64Array,
  n: number,
  p: number,
  seed0: number,
  seed1: number,
  accum = false,
): void {
  const t = dropoutThreshold(p);
  const scale = 1 / (1 - p);
  for (let i = 0; i < n; i++) {
    const v = dropoutKeep(seed0, seed1, i, t) ? inp[i] * scale : 0;
    out[i] = accum ? out[i] + v : v;
  }
}

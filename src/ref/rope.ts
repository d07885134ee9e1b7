/**
 * CPU reference for DINOv3 2-D RoPE, in float64. Same names and argument order as
 * src/ops/rope.ts. x, dx: [B, T, C] (C = H * Dh), rotated in place on rows n >= prefix with
 * table row n - prefix; cos, sin: [P, Dh] from `ropeTables` (float64 here).
 */
export { ropeTables64 as ropeTables } from '../ops/rope';

/**
 * For d < Dh/2:  x'[d] = x[d] cos[d] - x[d+Dh/2] sin[d];
 *                x'[d+Dh/2] = x[d+Dh/2] cos[d+Dh/2] + x[d] sin[d+Dh/2]
 */
export function ropeForward(
  x: Float64Array,
  cos: Float64Array,
  sin: Float64Array,
  B: number,
  T: number,
  C: number,
  H: number,
  prefix: number,
): void {
  const Dh = C / H, half = Dh / 2;
  for (let b = 0; b < B; b++) {
    for (let n = prefix; n < T; n++) {
      const t = (n - prefix) * Dh;
      for (let h = 0; h < H; h++) {
        const o = (b * T + n) * C + h * Dh;
        for (let d = 0; d < half; d++) {
          const x1 = x[o + d], x2 = x[o + d + half];
          x[o + d] = x1 * cos[t + d] - x2 * sin[t + d];
          x[o + d + half] = x2 * cos[t + d + half] + x1 * sin[t + d + half];
        }
      }
    }
  }
}

/** dx = R^T dy in place (the transpose of the forward's 2x2 map on each pair). */
export function ropeBackward(
  dx: Float64Array,
  cos: Float64Array,
  sin: Float64Array,
  B: number,
  T: number,
  C: number,
  H: number,
  prefix: number,
): void {
  const Dh = C / H, half = Dh / 2;
  for (let b = 0; b < B; b++) {
    for (let n = prefix; n < T; n++) {
      const t = (n - prefix) * Dh;
      for (let h = 0; h < H; h++) {
        const o = (b * T + n) * C + h * Dh;
        for (let d = 0; d < half; d++) {
          const g1 = dx[o + d], g2 = dx[o + d + half];
          dx[o + d] = g1 * cos[t + d] + g2 * sin[t + d + half];
          dx[o + d + half] = -g1 * sin[t + d] + g2 * cos[t + d + half];
        }
      }
    }
  }
}

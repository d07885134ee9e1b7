/**
 * CPU reference for DINOv3 2-D RoPE, in float64. Same names and argument order as
 * src/ops/rope.ts. x, dx: [B, T, C] (C = H * Dh), rotated in place on rows n >= prefix with
 * table row n - prefix; cos, sin: [P, Dh] from `ropeTables` (float64 here).
 */

/**
 * cos and sin tables [P, Dh] (P = Hp * Wp) in float64, written from docs/model.md#rope-channels channel
 * by channel, independently of src/ops/rope.ts (so a table bug there fails its checks):
 * patch p = r * Wp + c at (y, x) = s * (2 (r + 1/2)/Hp - 1, 2 (c + 1/2)/Wp - 1), s = coordScale;
 * channel d: j = d mod Dh/2, angle 2π · (j < Dh/4 ? y : x) / theta^(4 (j mod Dh/4) / Dh).
 */
export function ropeTables(
  Hp: number,
  Wp: number,
  Dh: number,
  theta = 100,
  coordScale = 1,
): { cos: Float64Array; sin: Float64Array } {
  if (!Number.isInteger(Dh) || Dh <= 0 || Dh % 4 !== 0) {
    throw new Error(`rope reference: head dim Dh = ${Dh} must be a positive multiple of 4`);
  }
  const cos = new Float64Array(Hp * Wp * Dh);
  const sin = new Float64Array(Hp * Wp * Dh);
  for (let r = 0; r < Hp; r++) {
    for (let c = 0; c < Wp; c++) {
      const y = coordScale * ((2 * (r + 0.5)) / Hp - 1);
      const x = coordScale * ((2 * (c + 0.5)) / Wp - 1);
      for (let d = 0; d < Dh; d++) {
        const j = d % (Dh / 2);
        const k = j % (Dh / 4);
        const a = (2 * Math.PI * (j < Dh / 4 ? y : x)) / theta ** ((4 * k) / Dh);
        cos[(r * Wp + c) * Dh + d] = Math.cos(a);
        sin[(r * Wp + c) * Dh + d] = Math.sin(a);
      }
    }
  }
  return { cos, sin };
}

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
  const Dh = C / H,
    half = Dh / 2;
  for (let b = 0; b < B; b++) {
    for (let n = prefix; n < T; n++) {
      const t = (n - prefix) * Dh;
      for (let h = 0; h < H; h++) {
        const o = (b * T + n) * C + h * Dh;
        for (let d = 0; d < half; d++) {
          const x1 = x[o + d],
            x2 = x[o + d + half];
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
  const Dh = C / H,
    half = Dh / 2;
  for (let b = 0; b < B; b++) {
    for (let n = prefix; n < T; n++) {
      const t = (n - prefix) * Dh;
      for (let h = 0; h < H; h++) {
        const o = (b * T + n) * C + h * Dh;
        for (let d = 0; d < half; d++) {
          const g1 = dx[o + d],
            g2 = dx[o + d + half];
          dx[o + d] = g1 * cos[t + d] + g2 * sin[t + d + half];
          dx[o + d + half] = -g1 * sin[t + d] + g2 * cos[t + d + half];
        }
      }
    }
  }
}

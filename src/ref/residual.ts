/**
 * CPU reference for residual + LayerScale in float64 (same names and argument order as
 * src/ops/residual.ts; backward adds into the gradient arrays, null skips one).
 *   x, y, out [N, C]; lambda [C] (null: no scale). dx = dout (pass-through, not computed).
 */
export function residualForward(
  out: Float64Array,
  x: Float64Array,
  y: Float64Array,
  lambda: Float64Array | null,
  N: number,
  C: number,
): void {
  for (let i = 0; i < N * C; i++) out[i] = x[i] + (lambda ? lambda[i % C] : 1) * y[i];
}

export function residualBackward(
  dy: Float64Array | null,
  dlambda: Float64Array | null,
  dout: Float64Array,
  y: Float64Array | null,
  lambda: Float64Array | null,
  N: number,
  C: number,
  accumulate = true,
): void {
  for (let i = 0; i < N * C; i++) {
    const c = i % C;
    if (dy) {
      const g = (lambda ? lambda[c] : 1) * dout[i];
      dy[i] = accumulate ? dy[i] + g : g;
    }
    if (dlambda && y) dlambda[c] += dout[i] * y[i];
  }
}

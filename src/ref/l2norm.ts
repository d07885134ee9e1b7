/**
 * CPU reference for l2norm in float64 (same names and argument order as src/ops/l2norm.ts;
 * backward adds into dinp). out = x / max(||x||, eps) per row; inp, out [N, C]; norm [N].
 */
export function l2normForward(
  out: Float64Array,
  norm: Float64Array,
  inp: Float64Array,
  N: number,
  C: number,
  eps = 1e-12,
): void {
  for (let n = 0; n < N; n++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += inp[n * C + c] ** 2;
    const nrm = Math.sqrt(s);
    const d = Math.max(nrm, eps);
    for (let c = 0; c < C; c++) out[n * C + c] = inp[n * C + c] / d;
    norm[n] = nrm;
  }
}

export function l2normBackward(
  dinp: Float64Array,
  dout: Float64Array,
  out: Float64Array,
  norm: Float64Array,
  N: number,
  C: number,
  eps = 1e-12,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    if (norm[n] < eps) {
      for (let c = 0; c < C; c++) dinp[o + c] += dout[o + c] / eps;
      continue;
    }
    let dot = 0;
    for (let c = 0; c < C; c++) dot += out[o + c] * dout[o + c];
    for (let c = 0; c < C; c++) dinp[o + c] += (dout[o + c] - out[o + c] * dot) / norm[n];
  }
}

/**
 * CPU reference for layernorm in float64 (same names and argument order as
 * src/ops/layernorm.ts; backward adds into the gradient arrays, null skips one).
 *   inp, out [N, C]; weight, bias [C]; mean, rstd [N] saved by the forward.
 */
export function layernormForward(
  out: Float64Array,
  mean: Float64Array,
  rstd: Float64Array,
  inp: Float64Array,
  weight: Float64Array,
  bias: Float64Array,
  N: number,
  C: number,
  eps: number,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    let m = 0;
    for (let c = 0; c < C; c++) m += inp[o + c];
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (inp[o + c] - m) ** 2;
    v /= C;
    const rs = 1 / Math.sqrt(v + eps);
    for (let c = 0; c < C; c++) out[o + c] = (inp[o + c] - m) * rs * weight[c] + bias[c];
    mean[n] = m;
    rstd[n] = rs;
  }
}

export function layernormBackward(
  dinp: Float64Array | null,
  dweight: Float64Array | null,
  dbias: Float64Array | null,
  dout: Float64Array,
  inp: Float64Array,
  weight: Float64Array,
  mean: Float64Array,
  rstd: Float64Array,
  N: number,
  C: number,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    const m = mean[n];
    const rs = rstd[n];
    let mg = 0;
    let mgx = 0;
    for (let c = 0; c < C; c++) {
      const xh = (inp[o + c] - m) * rs;
      const g = dout[o + c] * weight[c];
      mg += g;
      mgx += g * xh;
      if (dweight) dweight[c] += dout[o + c] * xh;
      if (dbias) dbias[c] += dout[o + c];
    }
    mg /= C;
    mgx /= C;
    if (dinp) {
      for (let c = 0; c < C; c++) {
        const xh = (inp[o + c] - m) * rs;
        dinp[o + c] += rs * (dout[o + c] * weight[c] - mg - xh * mgx);
      }
    }
  }
}

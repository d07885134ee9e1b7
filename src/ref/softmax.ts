/**
 * CPU reference for softmax, in float64. Same names and argument order as src/ops/softmax.ts.
 * inp, out, dout, dinp: [R, L] row-major; out = softmax(scale * inp) row by row.
 */

export function softmaxForward(out: Float64Array, inp: Float64Array, R: number, L: number, scale = 1): void {
  for (let r = 0; r < R; r++) {
    const o = r * L;
    let m = -Infinity;
    for (let j = 0; j < L; j++) m = Math.max(m, scale * inp[o + j]);
    let s = 0;
    for (let j = 0; j < L; j++) s += Math.exp(scale * inp[o + j] - m);
    for (let j = 0; j < L; j++) out[o + j] = Math.exp(scale * inp[o + j] - m) / s;
  }
}

/** dinp (+)= scale * out ⊙ (dout - rowsum(dout ⊙ out)); adds unless `accumulate` is false. */
export function softmaxBackward(
  dinp: Float64Array,
  dout: Float64Array,
  out: Float64Array,
  R: number,
  L: number,
  scale = 1,
  accumulate = true,
): void {
  for (let r = 0; r < R; r++) {
    const o = r * L;
    let dot = 0;
    for (let j = 0; j < L; j++) dot += dout[o + j] * out[o + j];
    for (let j = 0; j < L; j++) {
      const v = scale * out[o + j] * (dout[o + j] - dot);
      dinp[o + j] = v + (accumulate ? dinp[o + j] : 0);
    }
  }
}

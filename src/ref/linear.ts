/**
 * CPU references for linear and matmul, in float64. Same names and argument order as the GPU
 * ops in src/ops/linear.ts; backward adds into the gradient arrays.
 */

/** y[n,o] = b[o] + sum_i x[n,i] W[o,i] */
export function linearForward(
  out: Float64Array,
  inp: Float64Array,
  weight: Float64Array,
  bias: Float64Array | null,
  N: number,
  Cin: number,
  Cout: number,
): void {
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < Cout; o++) {
      let s = bias ? bias[o] : 0;
      for (let i = 0; i < Cin; i++) s += inp[n * Cin + i] * weight[o * Cin + i];
      out[n * Cout + o] = s;
    }
  }
}

export function linearBackward(
  dinp: Float64Array | null,
  dweight: Float64Array | null,
  dbias: Float64Array | null,
  dout: Float64Array,
  inp: Float64Array,
  weight: Float64Array,
  N: number,
  Cin: number,
  Cout: number,
): void {
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < Cout; o++) {
      const d = dout[n * Cout + o];
      if (dbias) dbias[o] += d;
      for (let i = 0; i < Cin; i++) {
        if (dinp) dinp[n * Cin + i] += d * weight[o * Cin + i];
        if (dweight) dweight[o * Cin + i] += d * inp[n * Cin + i];
      }
    }
  }
}

/** C[z] = alpha * op(A[z]) op(B[z]) (+ C[z] when accum), dense row-major matrices. */
export function matmul(
  C: Float64Array,
  A: Float64Array,
  B: Float64Array,
  batch: number,
  M: number,
  N: number,
  K: number,
  transA = false,
  transB = false,
  alpha = 1,
  accum = false,
): void {
  for (let z = 0; z < batch; z++) {
    const a0 = z * M * K;
    const b0 = z * K * N;
    const c0 = z * M * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = transA ? A[a0 + k * M + m] : A[a0 + m * K + k];
          const bv = transB ? B[b0 + n * K + k] : B[b0 + k * N + n];
          s += av * bv;
        }
        const ci = c0 + m * N + n;
        C[ci] = alpha * s + (accum ? C[ci] : 0);
      }
    }
  }
}

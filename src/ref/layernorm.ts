/**
 * CPU reference for layernorm in float64 (same names as src/ops/layernorm.ts; backward adds into
 * the gradient arrays, null skips one).
 *   inp, out [N, C]; weight, bias [C]; mean, rstd [N] saved by the forward (the GPU op keeps them
 *   interleaved in one stats [N, 2] buffer).
 * The optional `lora` argument is the LoRA part of the fused kernels, written out plainly:
 *   forward:  u[n, r] = scale_s * sum_c drop_s(out[n, c]) A[r, c]
 *   backward: gu[n, r] = scale_s * sum_o dy[n, col0_s + o] B[col0_s + o, r];
 *             dout[n, c] += sum_s drop_s(sum_{r in s} gu[n, r] A[r, c])   (in place), then as above
 */
import { dropoutKeep, dropoutThreshold } from './dropout';

export interface LnLoraRef {
  /** A [R, C] and B [outRows, R]. */
  A: Float64Array;
  B: Float64Array;
  R: number;
  outF: number;
  segs: { r0: number; r1: number; scale: number; seed1: number; col0: number }[];
  dropout: { p: number; seed0: number; base: number } | null;
}

/** drop_s(v) at mask index i. */
function drop(l: LnLoraRef, s: number, v: number, i: number): number {
  const d = l.dropout;
  if (!d || d.p === 0) return v;
  return dropoutKeep(d.seed0, l.segs[s].seed1, d.base + i, dropoutThreshold(d.p)) ? v / (1 - d.p) : 0;
}
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
  lora?: LnLoraRef & { u: Float64Array },
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
    if (!lora) continue;
    lora.segs.forEach((sg, s) => {
      for (let r = sg.r0; r < sg.r1; r++) {
        let t = 0;
        for (let c = 0; c < C; c++) t += drop(lora, s, out[o + c], o + c) * lora.A[r * C + c];
        lora.u[n * lora.R + r] = sg.scale * t;
      }
    });
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
  lora?: LnLoraRef & { dy: Float64Array; ldy: number; gu: Float64Array },
): void {
  if (lora) {
    for (let n = 0; n < N; n++) {
      lora.segs.forEach((sg, s) => {
        for (let r = sg.r0; r < sg.r1; r++) {
          let t = 0;
          for (let o = 0; o < lora.outF; o++)
            t += lora.dy[n * lora.ldy + sg.col0 + o] * lora.B[(sg.col0 + o) * lora.R + r];
          lora.gu[n * lora.R + r] = sg.scale * t;
        }
        for (let c = 0; c < C; c++) {
          let t = 0;
          for (let r = sg.r0; r < sg.r1; r++) t += lora.gu[n * lora.R + r] * lora.A[r * C + c];
          dout[n * C + c] += drop(lora, s, t, n * C + c);
        }
      });
    }
  }
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

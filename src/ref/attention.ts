/**
 * CPU reference for multi-head attention (no mask), in float64. Same names and argument order
 * as src/ops/attention.ts.
 *   q, k, v, out: [B, T, C], C = H * Dh, head h owns channels [h*Dh, (h+1)*Dh);
 *   att, datt:    [B, H, T, T]; scale = Dh^-0.5.
 * Written as plain loops over (b, h), independently of the GPU's matmul decomposition.
 */
import { softmaxBackward, softmaxForward } from './softmax';

export function attentionForward(
  out: Float64Array,
  att: Float64Array,
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  B: number,
  T: number,
  C: number,
  H: number,
): void {
  const Dh = C / H;
  const scale = 1 / Math.sqrt(Dh);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const a0 = (b * H + h) * T * T;
      for (let i = 0; i < T; i++) {
        for (let j = 0; j < T; j++) {
          let s = 0;
          for (let d = 0; d < Dh; d++) {
            s += q[(b * T + i) * C + h * Dh + d] * k[(b * T + j) * C + h * Dh + d];
          }
          att[a0 + i * T + j] = s;
        }
      }
    }
  }
  softmaxForward(att, att, B * H * T, T, scale);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const a0 = (b * H + h) * T * T;
      for (let i = 0; i < T; i++) {
        for (let d = 0; d < Dh; d++) {
          let s = 0;
          for (let j = 0; j < T; j++) s += att[a0 + i * T + j] * v[(b * T + j) * C + h * Dh + d];
          out[(b * T + i) * C + h * Dh + d] = s;
        }
      }
    }
  }
}

export function attentionBackward(
  dq: Float64Array | null,
  dk: Float64Array | null,
  dv: Float64Array | null,
  datt: Float64Array,
  dout: Float64Array,
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  att: Float64Array,
  B: number,
  T: number,
  C: number,
  H: number,
): void {
  const Dh = C / H;
  const scale = 1 / Math.sqrt(Dh);
  const ix = (b: number, t: number, h: number, d: number) => (b * T + t) * C + h * Dh + d;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const a0 = (b * H + h) * T * T;
      for (let i = 0; i < T; i++) {
        for (let j = 0; j < T; j++) {
          const p = att[a0 + i * T + j];
          let dp = 0;
          for (let d = 0; d < Dh; d++) {
            dp += dout[ix(b, i, h, d)] * v[ix(b, j, h, d)];
            if (dv) dv[ix(b, j, h, d)] += p * dout[ix(b, i, h, d)];
          }
          datt[a0 + i * T + j] = dp;
        }
      }
    }
  }
  // dS (w.r.t. the scaled scores) = P ⊙ (dP - rowsum(dP ⊙ P)); the scale goes into dq, dk.
  softmaxBackward(datt, datt, att, B * H * T, T, 1, false);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const a0 = (b * H + h) * T * T;
      for (let i = 0; i < T; i++) {
        for (let j = 0; j < T; j++) {
          const ds = scale * datt[a0 + i * T + j];
          for (let d = 0; d < Dh; d++) {
            if (dq) dq[ix(b, i, h, d)] += ds * k[ix(b, j, h, d)];
            if (dk) dk[ix(b, j, h, d)] += ds * q[ix(b, i, h, d)];
          }
        }
      }
    }
  }
}

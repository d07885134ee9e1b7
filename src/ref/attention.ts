/**
 * CPU reference for multi-head attention (no mask) on the packed qkv layout, in float64. Same
 * names and argument order as src/ops/attention.ts (without the Gpu):
 *   qkv  [B*T, ld]: q, k, v are the column blocks [offQ, offQ+C), [offK, ..), [offV, ..),
 *        C = H * Dh, head h owns columns h*Dh .. h*Dh+Dh-1 of each block (defaults: ld = 3C,
 *        offsets 0, C, 2C);
 *   rope (DINOv3): q and k rows n >= prefix of each image are rotated with table row n - prefix
 *        (tables [P, Dh] from src/ref/rope.ts `ropeTables`) before the scores;
 *   out  [B*T, C]: out_i = sum_j P_ij v_j per head, P = softmax_j(scale q_i . k_j),
 *        scale = Dh^-0.5;
 *   lse  [B*H*T] at (b*H + h)*T + i: log sum_j exp(scale q_i . k_j).
 * Backward (dqkv [B*T, ld], its q, k, v blocks overwritten, other columns untouched):
 *   P_ij = exp(scale q_i . k_j - lse_i) (recomputed), D_i = dO_i . O_i,
 *   dS_ij = P_ij (dO_i . v_j - D_i), dq_i = scale sum_j dS_ij k_j, dk_j = scale sum_i dS_ij q_i,
 *   dv_j = sum_i P_ij dO_i; dq, dk then go through the RoPE backward (gradients w.r.t. the
 *   un-rotated q, k). Plain loops, composed with the RoPE reference of src/ref/rope.ts.
 */
import { ropeBackward, ropeForward } from './rope';

export interface AttentionShape {
  B: number;
  T: number;
  H: number;
  Dh: number;
  ld?: number;
  offQ?: number;
  offK?: number;
  offV?: number;
  rope: { cos: Float64Array; sin: Float64Array; prefix: number } | null;
}

interface Packed {
  B: number;
  T: number;
  H: number;
  Dh: number;
  C: number;
  ld: number;
  offQ: number;
  offK: number;
  offV: number;
}

function packed(s: AttentionShape): Packed {
  const C = s.H * s.Dh;
  return {
    B: s.B,
    T: s.T,
    H: s.H,
    Dh: s.Dh,
    C,
    ld: s.ld ?? 3 * C,
    offQ: s.offQ ?? 0,
    offK: s.offK ?? C,
    offV: s.offV ?? 2 * C,
  };
}

/** Column block `off` of the packed [B*T, ld] matrix as a dense [B*T, C] array. */
function gather(qkv: Float64Array, p: Packed, off: number): Float64Array {
  const x = new Float64Array(p.B * p.T * p.C);
  for (let r = 0; r < p.B * p.T; r++) {
    for (let c = 0; c < p.C; c++) x[r * p.C + c] = qkv[r * p.ld + off + c];
  }
  return x;
}

function scatter(dqkv: Float64Array, p: Packed, off: number, x: Float64Array): void {
  for (let r = 0; r < p.B * p.T; r++) {
    for (let c = 0; c < p.C; c++) dqkv[r * p.ld + off + c] = x[r * p.C + c];
  }
}

/** q, k (rotated when `rope`), v as dense [B*T, C] arrays. */
function qkvDense(qkv: Float64Array, s: AttentionShape, p: Packed) {
  const q = gather(qkv, p, p.offQ),
    k = gather(qkv, p, p.offK),
    v = gather(qkv, p, p.offV);
  if (s.rope) {
    ropeForward(q, s.rope.cos, s.rope.sin, p.B, p.T, p.C, p.H, s.rope.prefix);
    ropeForward(k, s.rope.cos, s.rope.sin, p.B, p.T, p.C, p.H, s.rope.prefix);
  }
  return { q, k, v };
}

/** scale * q_i . k_j of head h of image b (dense [B*T, C] arrays). */
function score(q: Float64Array, k: Float64Array, p: Packed, b: number, h: number, i: number, j: number): number {
  let s = 0;
  for (let d = 0; d < p.Dh; d++) s += q[(b * p.T + i) * p.C + h * p.Dh + d] * k[(b * p.T + j) * p.C + h * p.Dh + d];
  return s / Math.sqrt(p.Dh);
}

export function attentionForward(out: Float64Array, lse: Float64Array, qkv: Float64Array, shape: AttentionShape): void {
  const p = packed(shape);
  const { q, k, v } = qkvDense(qkv, shape, p);
  const { B, T, H, Dh, C } = p;
  const s = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        let m = -Infinity;
        for (let j = 0; j < T; j++) m = Math.max(m, (s[j] = score(q, k, p, b, h, i, j)));
        let sum = 0;
        for (let j = 0; j < T; j++) sum += s[j] = Math.exp(s[j] - m);
        lse[(b * H + h) * T + i] = m + Math.log(sum);
        for (let d = 0; d < Dh; d++) {
          let o = 0;
          for (let j = 0; j < T; j++) o += s[j] * v[(b * T + j) * C + h * Dh + d];
          out[(b * T + i) * C + h * Dh + d] = o / sum;
        }
      }
    }
  }
}

export function attentionBackward(
  dqkv: Float64Array,
  dout: Float64Array,
  out: Float64Array,
  lse: Float64Array,
  qkv: Float64Array,
  shape: AttentionShape,
): void {
  const p = packed(shape);
  const { q, k, v } = qkvDense(qkv, shape, p);
  const { B, T, H, Dh, C } = p;
  const scale = 1 / Math.sqrt(Dh);
  const [dq, dk, dv] = [0, 1, 2].map(() => new Float64Array(B * T * C));
  const at = (b: number, t: number, h: number, d: number) => (b * T + t) * C + h * Dh + d;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        let D = 0;
        for (let d = 0; d < Dh; d++) D += dout[at(b, i, h, d)] * out[at(b, i, h, d)];
        for (let j = 0; j < T; j++) {
          const P = Math.exp(score(q, k, p, b, h, i, j) - lse[(b * H + h) * T + i]);
          let dP = 0;
          for (let d = 0; d < Dh; d++) dP += dout[at(b, i, h, d)] * v[at(b, j, h, d)];
          const dS = P * (dP - D);
          for (let d = 0; d < Dh; d++) {
            dq[at(b, i, h, d)] += scale * dS * k[at(b, j, h, d)];
            dk[at(b, j, h, d)] += scale * dS * q[at(b, i, h, d)];
            dv[at(b, j, h, d)] += P * dout[at(b, i, h, d)];
          }
        }
      }
    }
  }
  if (shape.rope) {
    ropeBackward(dq, shape.rope.cos, shape.rope.sin, B, T, C, H, shape.rope.prefix);
    ropeBackward(dk, shape.rope.cos, shape.rope.sin, B, T, C, H, shape.rope.prefix);
  }
  scatter(dqkv, p, p.offQ, dq);
  scatter(dqkv, p, p.offK, dk);
  scatter(dqkv, p, p.offV, dv);
}

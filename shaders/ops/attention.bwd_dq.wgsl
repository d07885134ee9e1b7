// Fused attention backward, first of two kernels (variant 'flash', src/ops/attention-flash.ts):
// dq, and D for the second (ops/attention.bwd_dkdv). Per query row i of one head:
//   D_i = dO_i . O_i                         (written to D for the dk/dv kernel)
//   P_ij = exp(s_ij - lse_i), s_ij = scale q_i . k_j   (recomputed from the forward's lse)
//   dS_ij = P_ij (dO_i . v_j - D_i)
//   dq_i = R^T (scale sum_j dS_ij k_j)       (R^T: the RoPE backward)
// written (overwritten) into the q block of dqkv. q, k rotated on load as in the forward.
// Workgroup (wid.x, wid.y = b*H + h): WG invocations, one query row each, with q_i (pre-scaled),
// dO_i and the dq_i accumulator in registers; K (rotated) and V staged by tiles of BC keys in
// workgroup memory and read as broadcasts. Rows past T compute a copy of row T-1, store nothing.
//#include "ops/attention.common.wgsl"

@group(0) @binding(3) var<storage, read> dout: array<vec4<f32>>;
//#if F16_OUT
@group(0) @binding(4) var<storage, read> out: array<vec2<u32>>;
//#else
@group(0) @binding(4) var<storage, read> out: array<vec4<f32>>;
//#endif
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read_write> dqkv: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> D: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

fn ldDout(e: u32) -> vec4<f32> { return dout[e >> 2u]; }
//#if F16_OUT
fn ldOut(e: u32) -> vec4<f32> { let w = out[e >> 2u]; return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)); }
//#else
fn ldOut(e: u32) -> vec4<f32> { return out[e >> 2u]; }
//#endif
fn stDqkv(e: u32, v: vec4<f32>) { dqkv[e >> 2u] = v; }

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.y / p.H;
  let h = wid.y % p.H;
  let i = wid.x * WG + lid;
  let t = min(i, p.T - 1u);
  let q = loadRow((b * p.T + t) * p.ld + p.offQ + h * p.Dh, t, p.prefix, p.scale);
  var g: Row; // dO_i
  var Di = 0.0;
  let eo = (b * p.T + t) * p.C + h * p.Dh;
  for (var c = 0u; c < DH4; c++) {
    g[c] = ldDout(eo + 4u * c);
    Di += dot(g[c], ldOut(eo + 4u * c));
  }
  let Li = lse[wid.y * p.T + t];
  var dq: Row;
  for (var c = 0u; c < DH4; c++) { dq[c] = vec4<f32>(0.0); }
  for (var j0 = 0u; j0 < p.T; j0 += BC) {
    workgroupBarrier(); // the previous tile has been read
    stageKV(lid, j0, b, h, p);
    workgroupBarrier();
    let n = min(BC, p.T - j0);
    for (var j = 0u; j < n; j++) {
      var sj = 0.0;
      var dpj = 0.0;
      for (var c = 0u; c < DH4; c++) {
        sj += dot(q[c], Ks[j * DH4 + c]);
        dpj += dot(g[c], Vs[j * DH4 + c]);
      }
      let ds = exp(sj - Li) * (dpj - Di);
      for (var c = 0u; c < DH4; c++) { dq[c] += ds * Ks[j * DH4 + c]; }
    }
  }
  if (i < p.T) {
    D[wid.y * p.T + i] = Di;
    for (var c = 0u; c < DH4; c++) { dq[c] *= p.scale; }
    let dx = ropeBackward(dq, i, p.prefix);
    let e0 = (b * p.T + i) * p.ld + p.offQ + h * p.Dh;
    for (var c = 0u; c < DH4; c++) { stDqkv(e0 + 4u * c, dx[c]); }
  }
}

// Fused attention backward, second of two kernels (variant 'flash', src/ops/attention-flash.ts):
// dk and dv, after ops/attention.bwd_dq has written D_i = dO_i . O_i. Per key row j of one head:
//   P_ij = exp(s_ij - lse_i), s_ij = scale q_i . k_j;  dS_ij = P_ij (dO_i . v_j - D_i)
//   dv_j = sum_i P_ij dO_i;  dk_j = R^T (scale sum_i dS_ij q_i)
// written (overwritten) into the k and v blocks of dqkv. q, k rotated on load.
// Workgroup (wid.x, wid.y = b*H + h): WG invocations, one key row each, with k_j, v_j and the
// dk_j, dv_j accumulators in registers; queries go by tiles of BC: q (rotated, pre-scaled, so
// dk gets its scale for free), dO, lse and D staged in workgroup memory, read as broadcasts.
// Rows past T compute a copy of row T-1 and store nothing.
//#include "ops/attention.common.wgsl"

@group(0) @binding(3) var<storage, read> dout: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> D: array<f32>;
@group(0) @binding(6) var<storage, read_write> dqkv: array<vec4<f32>>;
@group(0) @binding(7) var<uniform> p: Params;

var<workgroup> Qs: array<vec4<f32>, BC * DH4>;
var<workgroup> Gs: array<vec4<f32>, BC * DH4>; // dO
var<workgroup> Ls: array<f32, BC>;
var<workgroup> Ds: array<f32, BC>;

fn ldDout(e: u32) -> vec4<f32> { return dout[e >> 2u]; }
fn stDqkv(e: u32, v: vec4<f32>) { dqkv[e >> 2u] = v; }

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.y / p.H;
  let h = wid.y % p.H;
  let j = wid.x * WG + lid;
  let t = min(j, p.T - 1u);
  let rk = (b * p.T + t) * p.ld + h * p.Dh;
  let k = loadRow(rk + p.offK, t, p.prefix, 1.0);
  var v: Row;
  var dk: Row;
  var dv: Row;
  for (var c = 0u; c < DH4; c++) {
    v[c] = ldQKV(rk + p.offV + 4u * c);
    dk[c] = vec4<f32>(0.0);
    dv[c] = vec4<f32>(0.0);
  }
  for (var i0 = 0u; i0 < p.T; i0 += BC) {
    workgroupBarrier(); // the previous tile has been read
    for (var e = lid; e < BC * DH4; e += WG) {
      let qi = i0 + e / DH4;
      let c = e % DH4;
      var qc = vec4<f32>(0.0);
      var gc = vec4<f32>(0.0);
      if (qi < p.T) {
        qc = p.scale * loadChunk((b * p.T + qi) * p.ld + p.offQ + h * p.Dh, c, qi, p.prefix);
        gc = ldDout((b * p.T + qi) * p.C + h * p.Dh + 4u * c);
      }
      Qs[e] = qc;
      Gs[e] = gc;
    }
    for (var e = lid; e < BC; e += WG) {
      let qi = min(i0 + e, p.T - 1u);
      Ls[e] = lse[wid.y * p.T + qi];
      Ds[e] = D[wid.y * p.T + qi];
    }
    workgroupBarrier();
    let n = min(BC, p.T - i0);
    for (var i = 0u; i < n; i++) {
      var si = 0.0;
      var dpi = 0.0;
      for (var c = 0u; c < DH4; c++) {
        si += dot(Qs[i * DH4 + c], k[c]);
        dpi += dot(Gs[i * DH4 + c], v[c]);
      }
      let pi = exp(si - Ls[i]);
      let ds = pi * (dpi - Ds[i]);
      for (var c = 0u; c < DH4; c++) {
        dv[c] += pi * Gs[i * DH4 + c];
        dk[c] += ds * Qs[i * DH4 + c];
      }
    }
  }
  if (j < p.T) {
    let dx = ropeBackward(dk, j, p.prefix);
    let e0 = (b * p.T + j) * p.ld + h * p.Dh;
    for (var c = 0u; c < DH4; c++) {
      stDqkv(e0 + p.offK + 4u * c, dx[c]);
      stDqkv(e0 + p.offV + 4u * c, dv[c]);
    }
  }
}

// Fused attention forward ("flash", src/ops/attention-flash.ts), one head of one
// image per workgroup row of the grid:
//   out_i = sum_j softmax_j(s_ij) v_j,  s_ij = scale q_i . k_j,  lse_i = log sum_j exp(s_ij)
// with q, k rotated by RoPE on load (rows t >= prefix). Layout and helpers: ops/attention.common.
// Workgroup (wid.x, wid.y = b*H + h): WG invocations, one query row i = wid.x*WG + lid each,
// holding q_i (pre-scaled) and the output accumulator o_i in registers. Keys go by tiles of BC:
// the workgroup stages K (rotated) and V [BC, Dh] in workgroup memory, every invocation reads
// them as broadcasts. Online softmax per tile: running max m and sum l; o and l are rescaled
// by exp(m_old - m_new) once per tile. The scores never leave registers; the only output
// besides out is lse (for the backward, which recomputes P = exp(s - lse)).
// Rows past T compute a copy of row T-1 and store nothing (no early return: barriers).
//#include "ops/attention.common.wgsl"

//#if F16_OUT
@group(0) @binding(3) var<storage, read_write> out: array<vec2<u32>>;
//#else
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
//#endif
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

//#if F16_OUT
fn stOut(e: u32, v: vec4<f32>) { out[e >> 2u] = vec2<u32>(pack2x16float(v.xy), pack2x16float(v.zw)); }
//#else
fn stOut(e: u32, v: vec4<f32>) { out[e >> 2u] = v; }
//#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.y / p.H;
  let h = wid.y % p.H;
  let i = wid.x * WG + lid;
  let t = min(i, p.T - 1u);
  let q = loadRow((b * p.T + t) * p.ld + p.offQ + h * p.Dh, t, p.prefix, p.scale);
  var o: Row;
  for (var c = 0u; c < DH4; c++) { o[c] = vec4<f32>(0.0); }
  var m = LOWEST;
  var l = 0.0;
  var s: array<f32, BC_MAX>;
  for (var j0 = 0u; j0 < p.T; j0 += BC) {
    workgroupBarrier(); // the previous tile has been read
    stageKV(lid, j0, b, h, p);
    workgroupBarrier();
    // Loops over all BC keys (a constant bound, so s[] can stay in registers); keys past T
    // (zero rows in the tiles) are masked out of the max and the sums.
    let n = min(BC, p.T - j0);
    var mt = m;
    for (var j = 0u; j < BC; j++) {
      var sj = 0.0;
      for (var c = 0u; c < DH4; c++) { sj += dot(q[c], Ks[j * DH4 + c]); }
      s[j] = select(LOWEST, sj, j < n);
      mt = max(mt, s[j]);
    }
    let alpha = exp(m - mt); // 0 on the first tile (m = LOWEST), 1 when the max holds
    l *= alpha;
    for (var c = 0u; c < DH4; c++) { o[c] *= alpha; }
    for (var j = 0u; j < BC; j++) {
      let pj = select(0.0, exp(s[j] - mt), j < n);
      l += pj;
      for (var c = 0u; c < DH4; c++) { o[c] += pj * Vs[j * DH4 + c]; }
    }
    m = mt;
  }
  if (i < p.T) {
    let inv = 1.0 / l;
    let e0 = (b * p.T + i) * p.C + h * p.Dh;
    for (var c = 0u; c < DH4; c++) { stOut(e0 + 4u * c, o[c] * inv); }
    lse[wid.y * p.T + i] = m + log(l);
  }
}

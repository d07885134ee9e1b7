// Row-wise L2 normalisation backward (adds into dinp), with out = x / max(||x||, eps) and the
// saved unclamped norm:
//   norm >= eps:  dinp[n, :] += (dout - out * (out . dout)) / norm
//   norm <  eps:  dinp[n, :] += dout / eps        (the clamp is a constant: out = x / eps)
//   dinp, dout, out: [N, C]; norm: [N]. (torch's clamp_min passes the gradient at norm == eps.)
// Layout as in l2norm.fwd.wgsl.
override TPR: u32 = 64u;
override RPW: u32 = 1u;

struct Params { N: u32, C: u32, eps: f32, };

@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> out: array<f32>;
@group(0) @binding(3) var<storage, read> norm: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> red: array<f32, TPR * RPW>;

fn row_sum(v: f32, lid: u32, lane: u32) -> f32 {
  if (TPR == 1u) { return v; }
  red[lid] = v;
  workgroupBarrier();
  for (var w = TPR / 2u; w > 0u; w /= 2u) {
    if (lane < w) { red[lid] += red[lid + w]; }
    workgroupBarrier();
  }
  let total = red[lid - lane];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(TPR * RPW)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let lane = lid % TPR;
  let row = (wid.y * nwg.x + wid.x) * RPW + lid / TPR;
  let valid = row < p.N;
  let C = select(0u, p.C, valid); // rows past N: empty loops, no early return (barriers)
  let base = row * p.C;
  var nrm = 1.0;
  if (valid) { nrm = norm[row]; }
  let clamped = nrm < p.eps;

  var s = 0.0;
  if (!clamped) {
    for (var j = lane; j < C; j += TPR) { s += out[base + j] * dout[base + j]; }
  }
  let dot = row_sum(s, lid, lane); // outside the branch: every invocation reaches the barriers
  let inv = 1.0 / max(nrm, p.eps);
  for (var j = lane; j < C; j += TPR) {
    var g = dout[base + j];
    if (!clamped) { g -= out[base + j] * dot; }
    dinp[base + j] += g * inv;
  }
}

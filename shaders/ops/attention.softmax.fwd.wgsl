// Softmax with log-sum-exp for the matmul variant of attention (src/ops/attention-matmul.ts), in
// place on the (already scaled) scores S [R, L] (R = B*H*T query rows, L = T keys):
//   S[r, :] <- P[r, :] = exp(S[r, :] - lse_r),  lse_r = log sum_j exp(S[r, j])
// One invocation per row (RPW rows per workgroup, no workgroup memory: the layout that is fast
// on CPU backends such as SwiftShader, where this variant runs), an online (max, sum) pair over
// the row (one exp per element), f32 throughout. A 2-D grid of workgroups.
override RPW: u32 = 64u;

struct Params { R: u32, L: u32, };

@group(0) @binding(0) var<storage, read_write> S: array<f32>;
@group(0) @binding(1) var<storage, read_write> lse: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

const LOWEST: f32 = -3.4028234e38;

@compute @workgroup_size(RPW)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = gid.y * nwg.x * RPW + gid.x;
  if (r >= p.R) { return; }
  let base = r * p.L;
  var m = LOWEST;
  var s = 0.0;
  for (var j = 0u; j < p.L; j++) {
    let x = S[base + j];
    if (x > m) {
      s = s * exp(m - x) + 1.0;
      m = x;
    } else {
      s += exp(x - m);
    }
  }
  let L = m + log(s);
  for (var j = 0u; j < p.L; j++) { S[base + j] = exp(S[base + j] - L); }
  lse[r] = L;
}

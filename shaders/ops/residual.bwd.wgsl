// Residual + LayerScale backward, branch gradient, element-wise:
//   dy[n, c] += lambda[c] * dout[n, c]       (dy = lambda * dout when ACCUM is false)
//   dy, dout: [N, C]; lambda: [C]. HAS_LAMBDA = false: dy += dout.
// (The stream gradient passes through unchanged: dx = dout. The lambda gradient is a column sum,
// done by residual.bwd_params.wgsl.)
override WG: u32 = 256u;
override ACCUM: bool = true;
override HAS_LAMBDA: bool = true;

struct Params { NC: u32, C: u32, };

@group(0) @binding(0) var<storage, read_write> dy: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> lambda: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.NC) { return; }
  var g = dout[i];
  if (HAS_LAMBDA) { g *= lambda[i % p.C]; }
  if (ACCUM) {
    dy[i] += g;
  } else {
    dy[i] = g;
  }
}

// Exact GELU forward (torch.nn.functional.gelu, approximate='none'), element-wise:
//   out[n] = x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2))),   x = inp[n];   inp, out: [N]
// Phi(x) is taken as erfc(-x / sqrt(2)) / 2, which keeps relative accuracy for negative x
// (no 1 + erf cancellation); gelu(-1e4) = 0 and gelu(1e4) = 1e4 exactly.
// Entries `erf` and `erfc` apply erf_f32 / erfc_f32 alone (tests of common/erf.wgsl).
// One invocation per element; workgroups on a 2-D grid (more than 65535 are common:
// B * T * 4C elements for the MLP).
//#include "common/erf.wgsl"
override WG: u32 = 256u;

struct Params { N: u32, };

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

const INV_SQRT2: f32 = 0.70710678118654752;

fn gelu_f32(x: f32) -> f32 {
  return 0.5 * x * erfc_f32(-x * INV_SQRT2);
}

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let n = index(wid, nwg, lid);
  if (n >= p.N) { return; }
  out[n] = gelu_f32(inp[n]);
}

@compute @workgroup_size(WG)
fn erf(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
  let n = index(wid, nwg, lid);
  if (n >= p.N) { return; }
  out[n] = erf_f32(inp[n]);
}

@compute @workgroup_size(WG)
fn erfc(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let n = index(wid, nwg, lid);
  if (n >= p.N) { return; }
  out[n] = erfc_f32(inp[n]);
}

// Column sum with accumulation: out[n] += sum_m x[m, n]   (x is [M,N] row-major).
// Used for bias gradients (db += sum over rows of dy). One invocation per column; rows are
// read in order so neighbouring invocations read neighbouring addresses.
override WG: u32 = 64u;

struct Params { M: u32, N: u32, };

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  if (n >= p.N) { return; }
  var s = 0.0;
  for (var m = 0u; m < p.M; m++) { s += x[m * p.N + n]; }
  out[n] += s;
}

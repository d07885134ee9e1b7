// Sum of squares, for global gradient-norm clipping (used with adamw). Two stages, same entry:
//   stage 1 (SQUARE, !ACCUM): workgroup w writes out[w] = sum of x[i]^2 over its grid-stride
//            share of x[n]  (out = a [nwg] scratch of partial sums)
//   stage 2 (!SQUARE, ACCUM): one workgroup adds sum_i x[i] (the partials) into out[0]
// A short x runs as one workgroup with SQUARE and ACCUM. out[0] accumulates, so the squares of
// several parameter buffers sum into one scalar.
override WG: u32 = 256u;
override SQUARE: bool = true;
override ACCUM: bool = false;

struct Params { n: u32, };

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  var s = 0.0;
  let stride = nwg.x * WG;
  for (var i = wid.x * WG + lid.x; i < p.n; i += stride) {
    let xi = x[i];
    if (SQUARE) { s += xi * xi; } else { s += xi; }
  }
  partial[lid.x] = s;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h /= 2u) {
    if (lid.x < h) { partial[lid.x] += partial[lid.x + h]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    if (ACCUM) { out[0] += partial[0]; } else { out[wid.x] = partial[0]; }
  }
}

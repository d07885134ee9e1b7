// Residual add with LayerScale (DINOv3 / DINOv2 `layer_scale`), element-wise:
//   out[n, c] = x[n, c] + lambda[c] * y[n, c]      x, y, out: [N, C]; lambda: [C]
// IN_PLACE: x is read from `out` itself (`x` is then an unused dummy binding), i.e. x += lambda*y
// updates the residual stream without a second buffer (a buffer cannot be bound read-only and
// read-write in one dispatch). HAS_LAMBDA = false: plain out = x + y.
// One invocation per element, 2-D workgroup grid.
override WG: u32 = 256u;
override IN_PLACE: bool = false;
override HAS_LAMBDA: bool = true;

struct Params { NC: u32, C: u32, };

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> lambda: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.NC) { return; }
  var v = y[i];
  if (HAS_LAMBDA) { v *= lambda[i % p.C]; }
  if (IN_PLACE) {
    out[i] += v;
  } else {
    out[i] = x[i] + v;
  }
}

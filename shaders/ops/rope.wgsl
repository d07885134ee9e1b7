// DINOv3 2-D RoPE (docs/model.md#rope), applied in place to q or k in [B, T, C] layout, every head,
// patch rows only: row n >= PREFIX of each image uses table row n - PREFIX; the first PREFIX
// rows (CLS + registers) are left alone.  cos, sin: [P, Dh] with P = T - PREFIX.
// Half-split (NeoX) rotation of the pairs (d, d + Dh/2), d < Dh/2 (hd = Dh/2), in each head:
//   forward:   x'[d]      = x[d] cos[d] - x[d+Dh/2] sin[d]
//              x'[d+Dh/2] = x[d+Dh/2] cos[d+Dh/2] + x[d] sin[d+Dh/2]
//   BACKWARD (dx = R^T dy, in place on the gradient):
//              dx[d]      =  dy[d] cos[d] + dy[d+Dh/2] sin[d+Dh/2]
//              dx[d+Dh/2] = -dy[d] sin[d] + dy[d+Dh/2] cos[d+Dh/2]
// One invocation per (b, patch, head, d < Dh/2); a 2-D grid of workgroups when needed.
override WG: u32 = 64u;
override BACKWARD: bool = false;

struct Params { B: u32, T: u32, C: u32, H: u32, PREFIX: u32, P: u32, Dh: u32, };

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> cosT: array<f32>;
@group(0) @binding(2) var<storage, read> sinT: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let hd = p.Dh / 2u;
  let i = gid.y * nwg.x * WG + gid.x;
  if (i >= p.B * p.P * p.H * hd) { return; }
  let d = i % hd;
  var r = i / hd;
  let h = r % p.H;
  r /= p.H;
  let n = r % p.P; // patch index = table row
  let b = r / p.P;

  let i1 = (b * p.T + p.PREFIX + n) * p.C + h * p.Dh + d;
  let i2 = i1 + hd;
  let t1 = n * p.Dh + d;
  let t2 = t1 + hd;
  let a = x[i1];
  let c = x[i2];
  if (BACKWARD) {
    x[i1] = a * cosT[t1] + c * sinT[t2];
    x[i2] = c * cosT[t2] - a * sinT[t1];
  } else {
    x[i1] = a * cosT[t1] - c * sinT[t1];
    x[i2] = c * cosT[t2] + a * sinT[t2];
  }
}

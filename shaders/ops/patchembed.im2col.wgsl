// Patch embedding, step 1: im2col for a Conv2d with kernel = stride = p, no padding.
//   pixels: [B, 3, Himg, Wimg] (NCHW);  cols: [B * P, K], K = 3 * p * p
//   cols[b*P + q, (ch*p + u)*p + v] = pixels[b, ch, r*p + u, c*p + v],  q = r*Wp + c
//   Hp = floor(Himg / p), Wp = floor(Wimg / p), P = Hp * Wp: the right / bottom pixels that do
//   not fill a patch are ignored, as by the Conv2d.
// The (ch, u, v) order matches weight.reshape(C, K), so the patch embedding is then the matmul
// cols · W^T + bias (src/ops/patchembed.ts). One invocation per element of cols, 2-D grid.
override WG: u32 = 256u;

struct Params { B: u32, H: u32, W: u32, p: u32, Wp: u32, P: u32, };

@group(0) @binding(0) var<storage, read_write> cols: array<f32>;
@group(0) @binding(1) var<storage, read> pixels: array<f32>;
@group(0) @binding(2) var<uniform> prm: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  let pp = prm.p * prm.p;
  let K = 3u * pp;
  if (i >= prm.B * prm.P * K) { return; }
  let row = i / K;     // b*P + q
  let k = i % K;
  let b = row / prm.P;
  let q = row % prm.P;
  let ch = k / pp;
  let u = (k % pp) / prm.p;
  let v = k % prm.p;
  let y = (q / prm.Wp) * prm.p + u;
  let x = (q % prm.Wp) * prm.p + v;
  cols[i] = pixels[((b * 3u + ch) * prm.H + y) * prm.W + x];
}

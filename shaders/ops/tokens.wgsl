// Token-row helpers of the ViT embeddings, over a token buffer X [B, T, C]:
//   prefix: X[b, t, c] = src[t, c]              for t < R       (CLS + register tokens)
//   addpos: X[b, t, c] += src[t, c]             for all t < T   (DINOv2 position table [T, C])
//   gather: out[b, c] = X[b, row, c]                            (the CLS row -> pooler_output)
// One invocation per written element, 2-D workgroup grid.
override WG: u32 = 256u;

struct Params { B: u32, T: u32, C: u32, R: u32, };

@group(0) @binding(0) var<storage, read_write> X: array<f32>;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

fn flat(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn prefix(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid); // over B * R * C
  let per = p.R * p.C;
  if (i >= p.B * per) { return; }
  let b = i / per;
  let j = i % per; // t * C + c with t < R
  X[b * p.T * p.C + j] = src[j];
}

@compute @workgroup_size(WG)
fn addpos(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid); // over B * T * C
  let per = p.T * p.C;
  if (i >= p.B * per) { return; }
  X[i] += src[i % per];
}

// Here X is the output [B, C] and src the token buffer [B, T, C]; R is the row to take.
@compute @workgroup_size(WG)
fn gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid); // over B * C
  if (i >= p.B * p.C) { return; }
  let b = i / p.C;
  let c = i % p.C;
  X[i] = src[(b * p.T + p.R) * p.C + c];
}

// Backward of gather: X [B, T, C] (the output here) gets X[b, R, c] = src[b, c]; other rows
// are left as they are (the caller zeroes them).
@compute @workgroup_size(WG)
fn scatter(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid); // over B * C
  if (i >= p.B * p.C) { return; }
  let b = i / p.C;
  let c = i % p.C;
  X[(b * p.T + p.R) * p.C + c] = src[i];
}

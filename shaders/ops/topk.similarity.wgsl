// Similarities of a few queries with gallery rows, for topk when the queries are too few for a
// matmul tile (one query of the app's Search: a [1, G] product leaves 15 of every 16 rows of
// matmul's register tile idle, 3.6 s for G = 60,502, D = 768 on SwiftShader):
//   tile[ql, j] = dot(queries[ql], gallery[j])   ql < nq, j < ng; tile rows ldt apart (a
//                                                multiple of 4), the layout topk.wgsl reads
// queries [nq, D] from element offQ, gallery [ng, D] from element offG (D, offQ, offG multiples of
// 4: read as vec4). One invocation per query and 4 consecutive gallery rows (one vec4 store);
// rows past ng in the last group read whatever lies there (or 0 past the buffer) and land in
// columns the selection ignores.
override WG: u32 = 64u;

struct Params { nq: u32, ng: u32, D: u32, ldt: u32, offQ: u32, offG: u32, _p0: u32, _p1: u32 };

@group(0) @binding(0) var<storage, read_write> tile: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> queries: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> gallery: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j4 = gid.x;
  let ql = gid.y;
  if (ql >= p.nq || 4u * j4 >= p.ng) { return; }
  let D4 = p.D / 4u;
  let qb = p.offQ / 4u + ql * D4;
  let g0 = p.offG / 4u + 4u * j4 * D4;
  var s = vec4<f32>(0.0);
  for (var d = 0u; d < D4; d++) {
    let q = queries[qb + d];
    s += vec4<f32>(dot(q, gallery[g0 + d]), dot(q, gallery[g0 + D4 + d]), dot(q, gallery[g0 + 2u * D4 + d]), dot(q, gallery[g0 + 3u * D4 + d]));
  }
  tile[(ql * p.ldt) / 4u + j4] = s;
}

// Top-K selection for cosine-similarity search, merged chunk by chunk into a running list.
//   tile    [ng, nq]   similarities of gallery rows g0..g0+ng-1 (rows) with queries
//                      q0..q0+nq-1 (columns), from matmul
//   scores  [Q, K] f32 and indices [Q, K] u32: the running top-K of each query, sorted by
//                      descending score, ties broken by the lower gallery index; empty slots hold
//                      (-Infinity, 0xFFFFFFFF). With `first` the rows are reset to empty first.
// One invocation per query (column of the tile: neighbouring invocations read neighbouring
// addresses). A candidate enters when it beats the current K-th entry, by insertion from the end.
// NaN similarities never enter. EXCLUDE_SELF skips gallery index q + selfOffset (u32 wrapping, so
// a negative offset works).
override WG: u32 = 64u;
override EXCLUDE_SELF: bool = false;

struct Params {
  q0: u32, nq: u32, g0: u32, ng: u32,
  K: u32, selfOffset: u32, first: u32, negInfBits: u32,
};

@group(0) @binding(0) var<storage, read_write> scores: array<f32>;
@group(0) @binding(1) var<storage, read_write> indices: array<u32>;
@group(0) @binding(2) var<storage, read> tile: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

// (s, g) ranks before (t, ti)
fn better(s: f32, g: u32, t: f32, ti: u32) -> bool {
  return s > t || (s == t && g < ti);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let ql = gid.x;
  if (ql >= p.nq) { return; }
  let q = p.q0 + ql;
  let K = p.K;
  let base = q * K;
  let last = base + K - 1u;
  if (p.first != 0u) {
    let negInf = bitcast<f32>(p.negInfBits); // not a literal: const-evaluated inf is an error
    for (var k = 0u; k < K; k++) {
      scores[base + k] = negInf;
      indices[base + k] = 0xffffffffu;
    }
  }
  var ts = scores[last];
  var ti = indices[last];
  for (var gl = 0u; gl < p.ng; gl++) {
    let g = p.g0 + gl;
    if (EXCLUDE_SELF && g == q + p.selfOffset) { continue; }
    let s = tile[gl * p.nq + ql];
    if (!better(s, g, ts, ti)) { continue; }
    var k = K - 1u;
    loop {
      if (k == 0u) { break; }
      let ps = scores[base + k - 1u];
      let pi = indices[base + k - 1u];
      if (!better(s, g, ps, pi)) { break; }
      scores[base + k] = ps;
      indices[base + k] = pi;
      k -= 1u;
    }
    scores[base + k] = s;
    indices[base + k] = g;
    ts = scores[last];
    ti = indices[last];
  }
}

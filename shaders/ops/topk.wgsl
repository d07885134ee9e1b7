// Top-K selection for cosine-similarity search, merged gallery chunk by gallery chunk into a
// running list per query (src/ops/topk.ts records the dispatches).
//   tile    [nq, ldt]  similarities of queries q0..q0+nq-1 (rows) with gallery rows g0..g0+ng-1
//                      (columns 0..ng-1; ldt = ng rounded up to 16, the rest is ignored), from
//                      matmul: each query's row is contiguous, read 16 values (4 vec4) per step
//   scores  [Q, K] f32 and indices [Q, K] u32: per query a binary heap of its K best so far,
//                      ROOT = WORST (lowest score, then highest index); empty slots hold
//                      (-Infinity, 0xFFFFFFFF). `finish` sorts each heap into the final order:
//                      descending score, ties broken by the lower gallery index.
//   cand    [nq, cap]  (score bits, gallery index) that beat the K-th score before this chunk
//   counts  [nq]       how many did (may exceed cap: then `merge` rescans the tile row)
// Entry points, per chunk: the first chunk of a query block goes straight to `merge` with
// rescan = 1 (heap filled while scanning); later chunks run `collect` (one compare per value
// against the K-th score, which after the first chunk skips nearly everything: no heap work,
// little divergence), then `merge` (the few candidates into the heap). After the last chunk,
// `finish`. One invocation per query throughout. NaN similarities never enter. EXCLUDE_SELF
// skips gallery index q + selfOffset (u32 wrapping, so a negative offset works).
// FUSED (src/ops/topk.ts variant 'fused'): there is no tile; src/ops/topk-fused.ts computed the
// similarities and did `collect` (counts appended atomically, reset here by `merge`), and a row
// that must be scanned (first chunk, or more candidates than cap) is recomputed from the
// embeddings (`rowAt`).
override WG: u32 = 64u;
override EXCLUDE_SELF: bool = false;

struct Params {
  q0: u32, nq: u32, g0: u32, ng: u32,
  K: u32, selfOffset: u32, first: u32, negInfBits: u32,
  ldt: u32, cap: u32, rescan: u32, D4: u32,
  offQ4: u32, offG4: u32, _p0: u32, _p1: u32,
};

@group(0) @binding(0) var<storage, read_write> scores: array<f32>;
@group(0) @binding(1) var<storage, read_write> indices: array<u32>;
@group(0) @binding(3) var<storage, read_write> cand: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read_write> counts: array<u32>;
//#if FUSED
// No tile (src/ops/topk-fused.ts collected the candidates): a row is rescanned from the embeddings,
// queries [*, D] from vec4 offset offQ4 (the block's first query), gallery from offG4 (the chunk's
// first row), D = 4 * D4.
@group(0) @binding(2) var<storage, read> queries: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> gallery: array<vec4<f32>>;
@group(0) @binding(6) var<uniform> p: Params;

// Similarities of query ql with the chunk's gallery rows 4 i4 .. 4 i4 + 3 (clamped to the chunk),
// summed over d in the order topk-fused.ts sums them.
fn rowAt(ql: u32, i4: u32) -> vec4<f32> {
  let qa = p.offQ4 + ql * p.D4;
  let last = p.ng - 1u;
  let b0 = p.offG4 + min(4u * i4, last) * p.D4;
  let b1 = p.offG4 + min(4u * i4 + 1u, last) * p.D4;
  let b2 = p.offG4 + min(4u * i4 + 2u, last) * p.D4;
  let b3 = p.offG4 + min(4u * i4 + 3u, last) * p.D4;
  var s = vec4<f32>(0.0);
  for (var d = 0u; d < p.D4; d++) {
    let x = queries[qa + d];
    s += vec4<f32>(dot(x, gallery[b0 + d]), dot(x, gallery[b1 + d]), dot(x, gallery[b2 + d]), dot(x, gallery[b3 + d]));
  }
  return s;
}
//#else
@group(0) @binding(2) var<storage, read> tile: array<vec4<f32>>;
@group(0) @binding(5) var<uniform> p: Params;

fn rowAt(ql: u32, i4: u32) -> vec4<f32> {
  return tile[ql * (p.ldt / 4u) + i4];
}
//#endif

const NONE = 0xffffffffu;

// (s, g) ranks before (t, ti)
fn better(s: f32, g: u32, t: f32, ti: u32) -> bool {
  return s > t || (s == t && g < ti);
}

// Sifts (s, g) down from the root of the heap [base, base + n): the root's old entry is dropped.
fn siftDown(base: u32, n: u32, s: f32, g: u32) {
  var i = 0u;
  loop {
    let l = 2u * i + 1u;
    if (l >= n) { break; }
    var c = l;
    var cs = scores[base + l];
    var ci = indices[base + l];
    if (l + 1u < n) {
      let rs = scores[base + l + 1u];
      let ri = indices[base + l + 1u];
      if (better(cs, ci, rs, ri)) { c = l + 1u; cs = rs; ci = ri; }
    }
    if (!better(s, g, cs, ci)) { break; }
    scores[base + i] = cs;
    indices[base + i] = ci;
    i = c;
  }
  scores[base + i] = s;
  indices[base + i] = g;
}

// A candidate of this chunk: in range, not the query itself, and better than (ts, ti).
fn takes(s: f32, g: u32, q: u32, ts: f32, ti: u32) -> bool {
  return g < p.g0 + p.ng && better(s, g, ts, ti) && !(EXCLUDE_SELF && g == q + p.selfOffset);
}

// State of the invocation's query while it scans its row.
var<private> q: u32;
var<private> base: u32; // of its heap in scores / indices
var<private> ts: f32;   // the heap root: the K-th entry so far
var<private> ti: u32;
var<private> n: u32;    // candidates found (collect)

fn loadRoot() {
  ts = scores[base];
  ti = indices[base];
}

// collect: appends the values of s (gallery rows g..g+3) that beat the root as it was.
fn collect4(s: vec4<f32>, g: u32) {
  for (var c = 0u; c < 4u; c++) {
    if (takes(s[c], g + c, q, ts, ti)) {
      if (n < p.cap) { cand[(q - p.q0) * p.cap + n] = vec2<u32>(bitcast<u32>(s[c]), g + c); }
      n++;
    }
  }
}

// rescan: puts the values of s (gallery rows g..g+3) that beat the root into the heap.
fn insert4(s: vec4<f32>, g: u32) {
  for (var c = 0u; c < 4u; c++) {
    if (takes(s[c], g + c, q, ts, ti)) {
      siftDown(base, p.K, s[c], g + c);
      loadRoot();
    }
  }
}

// Scans the invocation's tile row, 16 values per step: one cheap test for all 16 (an empty root,
// fewer than K so far, takes anything), then per vec4, then per value.
fn scanRow(ql: u32, rescan: bool) {
  for (var j = 0u; 16u * j < p.ng; j++) {
    let s0 = rowAt(ql, 4u * j);
    let s1 = rowAt(ql, 4u * j + 1u);
    let s2 = rowAt(ql, 4u * j + 2u);
    let s3 = rowAt(ql, 4u * j + 3u);
    let t = vec4<f32>(ts);
    let h0 = s0 > t;
    let h1 = s1 > t;
    let h2 = s2 > t;
    let h3 = s3 > t;
    let empty = ti == NONE;
    if (!any(h0 | h1 | h2 | h3) && !empty) { continue; }
    let g = p.g0 + 16u * j;
    if (rescan) {
      if (empty || any(h0)) { insert4(s0, g); }
      if (empty || any(h1)) { insert4(s1, g + 4u); }
      if (empty || any(h2)) { insert4(s2, g + 8u); }
      if (empty || any(h3)) { insert4(s3, g + 12u); }
    } else {
      if (empty || any(h0)) { collect4(s0, g); }
      if (empty || any(h1)) { collect4(s1, g + 4u); }
      if (empty || any(h2)) { collect4(s2, g + 8u); }
      if (empty || any(h3)) { collect4(s3, g + 12u); }
    }
  }
}

// Collects this chunk's values that beat the K-th score (the heap root before the chunk).
@compute @workgroup_size(WG)
fn collect(@builtin(global_invocation_id) gid: vec3<u32>) {
  _ = &indices;
//#if FUSED
  _ = &queries;
  _ = &gallery;
//#endif
  let ql = gid.x;
  if (ql >= p.nq) { return; }
  q = p.q0 + ql;
  base = q * p.K;
  loadRoot();
  n = 0u;
  scanRow(ql, false);
  counts[ql] = n;
}

// Puts this chunk's candidates into the heap; with `rescan` (first chunk) or when `collect`
// found more than `cap`, scans the tile row itself, updating the heap as it goes.
@compute @workgroup_size(WG)
fn merge(@builtin(global_invocation_id) gid: vec3<u32>) {
  let ql = gid.x;
  if (ql >= p.nq) { return; }
  q = p.q0 + ql;
  base = q * p.K;
  if (p.first != 0u) {
    let negInf = bitcast<f32>(p.negInfBits); // not a literal: const-evaluated inf is an error
    for (var k = 0u; k < p.K; k++) {
      scores[base + k] = negInf;
      indices[base + k] = NONE;
    }
  }
  loadRoot();
  let found = counts[ql];
//#if FUSED
  counts[ql] = 0u; // for the next chunk's atomic appends
//#endif
  if (p.rescan == 0u && found <= p.cap) {
    let c0 = ql * p.cap;
    for (var k = 0u; k < found; k++) {
      let c = cand[c0 + k];
      let s = bitcast<f32>(c.x);
      if (better(s, c.y, ts, ti)) {
        siftDown(base, p.K, s, c.y);
        loadRoot();
      }
    }
    return;
  }
  scanRow(ql, true);
}

// Heap -> sorted by descending score, ties by the lower index (heap sort: the worst entry,
// at the root, goes to the end of the shrinking heap).
@compute @workgroup_size(WG)
fn finish(@builtin(global_invocation_id) gid: vec3<u32>) {
//#if FUSED
  _ = &queries; // every entry point has the same bindings
  _ = &gallery;
//#else
  _ = &tile; // every entry point has the same bindings
//#endif
  _ = &cand;
  _ = &counts;
  let ql = gid.x;
  if (ql >= p.nq) { return; }
  let base = (p.q0 + ql) * p.K;
  for (var n = p.K; n > 1u; n--) {
    let ws = scores[base];
    let wi = indices[base];
    siftDown(base, n - 1u, scores[base + n - 1u], indices[base + n - 1u]);
    scores[base + n - 1u] = ws;
    indices[base + n - 1u] = wi;
  }
}

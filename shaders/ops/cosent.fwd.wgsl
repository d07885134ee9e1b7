// CoSENT loss over in-batch pairs, forward (vembed-factory's CoSENTLoss):
//   sim   [B,B] = q p^T of L2-normalized rows (computed by matmul before this kernel)
//   labels [B] u32 (HAS_LABELS): pair (i,j) counts iff j != i and label_j != label_i
//   x_ij = scale * (sim[i,j] - sim[i,i]) over the valid pairs
//   loss [1] (written) = log(1 + sum_ij exp(x_ij)) = logsumexp({0} ∪ {x_ij}): one scalar for the
//          whole batch (no mean over rows); no valid pair gives log(1) = 0.
//   stats [2B+1] (written, saved for the backward):
//          stats[i]     = m_i = max_j x_ij over row i's valid pairs (0 when it has none)
//          stats[B + i] = sum_j exp(x_ij - m_i)                     (0 when it has none)
//          stats[2B]    = the loss (the global logsumexp)
// One workgroup; invocation t folds rows t, t+WG, ... into a running (max, sum) pair, then the
// pairs are merged in workgroup memory. Any B works (each invocation does ~2 B^2 / WG steps).
override WG: u32 = 256u;
override HAS_LABELS: bool = false;

struct Params { B: u32, scale: f32, };

@group(0) @binding(0) var<storage, read_write> stats: array<f32>;
@group(0) @binding(1) var<storage, read_write> loss: array<f32>;
@group(0) @binding(2) var<storage, read> sim: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> pm: array<f32, WG>;
var<workgroup> ps: array<f32, WG>;

fn valid(i: u32, j: u32) -> bool {
  if (HAS_LABELS) { return labels[i] != labels[j]; }
  return i != j;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  let B = p.B;
  // Running (m, s) stands for s * exp(m); m starts at 0 (>= the max once the {0} term is added).
  var m = 0.0;
  var s = 0.0;
  for (var i = lid.x; i < B; i += WG) {
    let pos = sim[i * B + i];
    var rm = 0.0;
    var found = false;
    for (var j = 0u; j < B; j++) {
      if (valid(i, j)) {
        let x = p.scale * (sim[i * B + j] - pos);
        if (!found || x > rm) { rm = x; }
        found = true;
      }
    }
    var rs = 0.0;
    if (found) {
      for (var j = 0u; j < B; j++) {
        if (valid(i, j)) { rs += exp(p.scale * (sim[i * B + j] - pos) - rm); }
      }
      let nm = max(m, rm);
      s = s * exp(m - nm) + rs * exp(rm - nm);
      m = nm;
    }
    stats[i] = rm;
    stats[B + i] = rs;
  }
  pm[lid.x] = m;
  ps[lid.x] = s;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h /= 2u) {
    if (lid.x < h) {
      let m2 = pm[lid.x + h];
      let nm = max(pm[lid.x], m2);
      ps[lid.x] = ps[lid.x] * exp(pm[lid.x] - nm) + ps[lid.x + h] * exp(m2 - nm);
      pm[lid.x] = nm;
    }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    let lse = pm[0] + log(ps[0] + exp(-pm[0])); // + exp(0 - m): the {0} term
    stats[2u * B] = lse;
    loss[0] = lse;
  }
}

// InfoNCE / supervised-contrastive loss, forward: per-row and per-column statistics of the
// logits and the mean loss. One workgroup; invocation t handles rows (and columns) t, t+WG, ...
//   logits [B,B] = q p^T / tau   (computed by matmul before this kernel)
//   labels [B] u32               (HAS_LABELS; positives M_ij = [label_i == label_j], else i == j)
//   stats  [3,B] (written, saved for the backward):
//          stats[0,i] = logsumexp_j logits[i,j]   (query -> positive, rows)
//          stats[1,j] = logsumexp_i logits[i,j]   (positive -> query, columns; BIDIR only)
//          stats[2,i] = sum_j M_ij                (number of positives of i)
//   loss [1] (written) = w * ( mean_i rowLoss_i + [BIDIR] mean_j colLoss_j ),
//          rowLoss_i = lse_i - sum_j M_ij logits_ij / n_i, computed as
//          log(sum_j exp(l_ij - max_i)) - sum_j M_ij (l_ij - max_i) / n_i, which keeps the large
//          common max out of the cancellation; w = 1, or 0.5 for a bidirectional mean.
override WG: u32 = 256u;
override HAS_LABELS: bool = false;
override BIDIR: bool = false;

struct Params { B: u32, w: f32, };

@group(0) @binding(0) var<storage, read_write> stats: array<f32>;
@group(0) @binding(1) var<storage, read_write> loss: array<f32>;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> partial: array<f32, WG>;

fn positive(i: u32, j: u32) -> bool {
  if (HAS_LABELS) { return labels[i] == labels[j]; }
  return i == j;
}

// Logit of row r, entry k of the direction: rows (q -> p) or columns (p -> q).
fn logit(r: u32, k: u32, cols: bool) -> f32 {
  if (cols) { return logits[k * p.B + r]; }
  return logits[r * p.B + k];
}

// Returns (lse, loss, count) of one row of one direction.
fn rowStats(r: u32, cols: bool) -> vec3<f32> {
  let B = p.B;
  var mx = logit(r, 0u, cols);
  for (var k = 1u; k < B; k++) { mx = max(mx, logit(r, k, cols)); }
  var se = 0.0;
  var pos = 0.0;
  var cnt = 0.0;
  for (var k = 0u; k < B; k++) {
    let z = logit(r, k, cols) - mx;
    se += exp(z);
    if (positive(r, k)) { pos += z; cnt += 1.0; }
  }
  let lse = log(se);
  return vec3<f32>(mx + lse, lse - pos / cnt, cnt);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  let B = p.B;
  var acc = 0.0;
  for (var i = lid.x; i < B; i += WG) {
    let r = rowStats(i, false);
    stats[i] = r.x;
    stats[2u * B + i] = r.z;
    acc += r.y;
    if (BIDIR) {
      let c = rowStats(i, true);
      stats[B + i] = c.x;
      acc += c.y;
    }
  }
  partial[lid.x] = acc;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h /= 2u) {
    if (lid.x < h) { partial[lid.x] += partial[lid.x + h]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { loss[0] = p.w * partial[0] / f32(B); }
}

// Triplet loss with the hardest in-batch negative, forward (vembed-factory's TripletMarginLoss):
//   sim   [B,B] = q p^T of L2-normalized rows (computed by matmul before this kernel)
//   labels [B] u32 (HAS_LABELS): j is a negative of row i iff j != i and label_j != label_i
//   n_i = max over negatives j of sim[i,j] (ties: the lowest j wins, as torch's max),
//   h_i = n_i - sim[i,i] + margin
//   loss [1] (written) = (1/B) * sum_i relu(h_i); a row without negatives adds 0 (still /B)
//   hard [B] u32 (written, saved for the backward) = argmax j when h_i > 0, else NONE.
// One workgroup; invocation t handles rows t, t+WG, ...
override WG: u32 = 256u;
override HAS_LABELS: bool = false;

const NONE: u32 = 0xffffffffu;

struct Params { B: u32, margin: f32, };

@group(0) @binding(0) var<storage, read_write> hard: array<u32>;
@group(0) @binding(1) var<storage, read_write> loss: array<f32>;
@group(0) @binding(2) var<storage, read> sim: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> partial: array<f32, WG>;

fn negative(i: u32, j: u32) -> bool {
  if (HAS_LABELS) { return labels[i] != labels[j]; }
  return i != j;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  let B = p.B;
  var acc = 0.0;
  for (var i = lid.x; i < B; i += WG) {
    var best = 0.0;
    var arg = NONE;
    for (var j = 0u; j < B; j++) {
      let s = sim[i * B + j];
      if (negative(i, j) && (arg == NONE || s > best)) {
        best = s;
        arg = j;
      }
    }
    var out = NONE;
    if (arg != NONE) {
      let h = best - sim[i * B + i] + p.margin;
      if (h > 0.0) {
        acc += h;
        out = arg;
      }
    }
    hard[i] = out;
  }
  partial[lid.x] = acc;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h /= 2u) {
    if (lid.x < h) { partial[lid.x] += partial[lid.x + h]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { loss[0] = partial[0] / f32(B); }
}

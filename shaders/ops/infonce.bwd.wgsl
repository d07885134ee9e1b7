// InfoNCE / supervised-contrastive loss, backward to the logits (dq, dp follow by matmul):
//   dlogits[i,j] = s * ( softmax_row_i(j) - M_ij / n_i
//                        + [BIDIR] ( softmax_col_j(i) - M_ij / n_j ) ),   s = dloss * w / B
//   with softmax_row_i(j) = exp(l_ij - stats[0,i]), softmax_col_j(i) = exp(l_ij - stats[1,j]),
//   n_i = stats[2,i] (saved by infonce.fwd).   logits, dlogits [B,B]; labels [B] u32.
// One invocation per element (x: column j, y: row i).
override WG_X: u32 = 16u;
override WG_Y: u32 = 16u;
override HAS_LABELS: bool = false;
override BIDIR: bool = false;

struct Params { B: u32, s: f32, };

@group(0) @binding(0) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let B = p.B;
  let j = gid.x;
  let i = gid.y;
  if (i >= B || j >= B) { return; }
  var pos = i == j;
  if (HAS_LABELS) { pos = labels[i] == labels[j]; }
  let l = logits[i * B + j];
  var d = exp(l - stats[i]);
  if (pos) { d -= 1.0 / stats[2u * B + i]; }
  if (BIDIR) {
    d += exp(l - stats[B + j]);
    if (pos) { d -= 1.0 / stats[2u * B + j]; }
  }
  dlogits[i * B + j] = p.s * d;
}

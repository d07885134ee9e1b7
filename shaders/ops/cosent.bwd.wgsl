// CoSENT loss, backward to the similarities (dq, dp follow by matmul). With the softmax weight
// w_ij = exp(x_ij - lse) of each valid pair (x_ij = scale * (sim[i,j] - sim[i,i])):
//   dsim[i,j] = g * scale * w_ij                       (valid pairs, j != i)
//   dsim[i,i] = -g * scale * sum_j w_ij = -g * scale * stats[B+i] * exp(stats[i] - lse)
//   g = dloss; stats [2B+1] saved by cosent.fwd (row max, row sum, lse = stats[2B]).
//   sim, dsim [B,B] (dsim written, not accumulated); labels [B] u32.
// One invocation per element (x: column j, y: row i).
override WG_X: u32 = 16u;
override WG_Y: u32 = 16u;
override HAS_LABELS: bool = false;

struct Params { B: u32, scale: f32, g: f32, };

@group(0) @binding(0) var<storage, read_write> dsim: array<f32>;
@group(0) @binding(1) var<storage, read> sim: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let B = p.B;
  let j = gid.x;
  let i = gid.y;
  if (i >= B || j >= B) { return; }
  let lse = stats[2u * B];
  let gs = p.g * p.scale;
  var d = 0.0;
  if (i == j) {
    d = -gs * stats[B + i] * exp(stats[i] - lse);
  } else {
    var ok = true;
    if (HAS_LABELS) { ok = labels[i] != labels[j]; }
    if (ok) { d = gs * exp(p.scale * (sim[i * B + j] - sim[i * B + i]) - lse); }
  }
  dsim[i * B + j] = d;
}

// Triplet loss, backward to the similarities (dq, dp follow by matmul):
//   dsim[i,j] = g * ( [j == hard_i] - [j == i and hard_i != NONE] ),   g = dloss / B
//   hard [B] u32 (saved by triplet.fwd: hardest negative of row i when its hinge is active);
//   dsim [B,B] (written, not accumulated).
// One invocation per element (x: column j, y: row i).
override WG_X: u32 = 16u;
override WG_Y: u32 = 16u;

const NONE: u32 = 0xffffffffu;

struct Params { B: u32, g: f32, };

@group(0) @binding(0) var<storage, read_write> dsim: array<f32>;
@group(0) @binding(1) var<storage, read> hard: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let B = p.B;
  let j = gid.x;
  let i = gid.y;
  if (i >= B || j >= B) { return; }
  let n = hard[i];
  var d = 0.0;
  if (n != NONE) {
    if (j == n) { d = p.g; }
    if (j == i) { d = -p.g; }
  }
  dsim[i * B + j] = d;
}

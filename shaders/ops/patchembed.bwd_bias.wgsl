// Patch embedding backward, stage 1 of the bias gradient: per image, the column sum of the
// gradient of its patch rows in the token buffer.
//   dout: [B, T, C] (patch q of image b at row rowOffset + q);  part: [B, C]
//   part[b, c] = sum_{q < P} dout[b, rowOffset + q, c]
// Stage 2 (`colsum`) adds the B rows into dbias. Grid: x = column blocks of WG, y = image.
override WG: u32 = 64u;

struct Params { C: u32, T: u32, rowOffset: u32, P: u32, };

@group(0) @binding(0) var<storage, read_write> part: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<uniform> prm: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let b = gid.y;
  if (c >= prm.C) { return; }
  let base = (b * prm.T + prm.rowOffset) * prm.C + c;
  var s = 0.0;
  for (var q = 0u; q < prm.P; q++) { s += dout[base + q * prm.C]; }
  part[b * prm.C + c] = s;
}

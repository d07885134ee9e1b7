// Residual + LayerScale backward, stage 1 of the lambda gradient (a column sum over rows):
//   part[k, c] = sum_{n in chunk k} dout[n, c] * y[n, c]
//   dout, y: [N, C]; part: [chunks, C], chunk k = rows [k*R, (k+1)*R) with R = p.R.
// Stage 2 (`colsum`) adds the chunk rows into dlambda.
// Grid: x = column blocks of WG, y = chunk. Neighbouring invocations read neighbouring columns.
override WG: u32 = 64u;

struct Params { N: u32, C: u32, R: u32, };

@group(0) @binding(0) var<storage, read_write> part: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let k = gid.y;
  if (c >= p.C) { return; }
  let n1 = min(p.N, (k + 1u) * p.R);
  var s = 0.0;
  for (var n = k * p.R; n < n1; n++) {
    s += dout[n * p.C + c] * y[n * p.C + c];
  }
  part[k * p.C + c] = s;
}

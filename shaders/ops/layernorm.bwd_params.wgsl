// LayerNorm backward, stage 1 of the weight and bias gradients (column sums over rows):
//   partW[k, c] = sum_{n in chunk k} dout[n, c] * (inp[n, c] - mean[n]) * rstd[n]
//   (mean[n], rstd[n]) = stats[2n], stats[2n + 1]
//   partB[k, c] = sum_{n in chunk k} dout[n, c]
//   dout, inp: [N, C]; stats: [N, 2]; partW, partB: [chunks, C], chunk k = rows
//   [k*R, (k+1)*R) with R = p.R.
// Stage 2 (`colsum`, shaders/ops/colsum.wgsl) adds the chunk rows into dweight / dbias. Two
// stages give N/R times more parallelism than one invocation per column looping over all rows.
// Grid: x = column blocks of WG, y = chunk. Neighbouring invocations read neighbouring columns.
override WG: u32 = 64u;

struct Params { N: u32, C: u32, R: u32, };

@group(0) @binding(0) var<storage, read_write> partW: array<f32>;
@group(0) @binding(1) var<storage, read_write> partB: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read> inp: array<f32>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let k = gid.y;
  if (c >= p.C) { return; }
  let n1 = min(p.N, (k + 1u) * p.R);
  var sw = 0.0;
  var sb = 0.0;
  for (var n = k * p.R; n < n1; n++) {
    let g = dout[n * p.C + c];
    sw += g * (inp[n * p.C + c] - stats[2u * n]) * stats[2u * n + 1u];
    sb += g;
  }
  partW[k * p.C + c] = sw;
  partB[k * p.C + c] = sb;
}

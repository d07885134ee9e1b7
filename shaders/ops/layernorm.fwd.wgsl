// LayerNorm forward over the last dim (torch.nn.LayerNorm: biased variance, eps inside sqrt):
//   out[n, c] = (inp[n, c] - mean[n]) * rstd[n] * weight[c] + bias[c]
//   inp, out: [N, C]; weight, bias: [C]; mean, rstd: [N], saved for the backward.
// Variance by two passes over the row, never E[x^2] - E[x]^2 (residual streams carry rows with
// |mean| >> std): pass 1 gives m0 = mean(x); pass 2 sums e = x - m0 (exact when x ~ m0) and e^2,
// and the small mean(e) corrects both the mean and the variance (corrected two-pass algorithm:
// var = mean(e^2) - mean(e)^2). Pass 3 writes ((x - m0) - mean(e)) * rstd * w + b.
// Everything accumulates in f32.
// Layout: a workgroup holds RPW rows of TPR invocations each (TPR a power of 2); the TPR
// partial sums of a row meet in a tree reduction in workgroup memory. TPR = 1 (one invocation
// per row) suits CPU backends such as SwiftShader; TPR = 64, RPW = 1 suits GPUs.
// Workgroups are laid out on a 2-D grid; rows past N compute nothing and store nothing.
override TPR: u32 = 64u;
override RPW: u32 = 1u;

struct Params { N: u32, C: u32, eps: f32, };

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read_write> mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(3) var<storage, read> inp: array<f32>;
@group(0) @binding(4) var<storage, read> weight: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

var<workgroup> red: array<vec2<f32>, TPR * RPW>;

// Sum of v over the TPR invocations of this row (every invocation gets the total).
fn row_sum(v: vec2<f32>, lid: u32, lane: u32) -> vec2<f32> {
  if (TPR == 1u) { return v; }
  red[lid] = v;
  workgroupBarrier();
  for (var w = TPR / 2u; w > 0u; w /= 2u) {
    if (lane < w) { red[lid] += red[lid + w]; }
    workgroupBarrier();
  }
  let total = red[lid - lane];
  workgroupBarrier(); // before `red` is reused
  return total;
}

@compute @workgroup_size(TPR * RPW)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let lane = lid % TPR;
  let row = (wid.y * nwg.x + wid.x) * RPW + lid / TPR;
  let C = select(0u, p.C, row < p.N); // rows past N: empty loops, no early return (barriers)
  let base = row * p.C;
  let Cf = f32(p.C);

  var s = 0.0;
  for (var j = lane; j < C; j += TPR) { s += inp[base + j]; }
  let m0 = row_sum(vec2<f32>(s, 0.0), lid, lane).x / Cf; // exact for a constant row

  var d = vec2<f32>(0.0);
  for (var j = lane; j < C; j += TPR) {
    let e = inp[base + j] - m0;
    d += vec2<f32>(e, e * e);
  }
  let t = row_sum(d, lid, lane) / Cf; // (mean(e), mean(e^2))
  let rs = inverseSqrt(max(t.y - t.x * t.x, 0.0) + p.eps);

  for (var j = lane; j < C; j += TPR) {
    out[base + j] = ((inp[base + j] - m0) - t.x) * rs * weight[j] + bias[j];
  }
  if (lane == 0u && row < p.N) {
    mean[row] = m0 + t.x;
    rstd[row] = rs;
  }
}

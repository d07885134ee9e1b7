// Row-wise softmax forward over the last dim, with an optional scale on the logits:
//   out[r, :] = softmax(scale * inp[r, :])      inp, out: [R, L] row-major
// Numerically safe: each invocation keeps an online (running max m, sum of exp(x - m)) pair
// over its strided share of a row (one exp per element), the TPR pairs of a row are merged by
// a tree reduction in workgroup memory, then the row is written as exp(x - M) / S.
// Everything accumulates in f32.
// Layout: a workgroup holds RPW rows of TPR invocations each (TPR a power of 2). TPR = 1 is one
// invocation per row with no reduction (fastest on CPU backends such as SwiftShader, where
// workgroups and barriers are costly); TPR = 64, RPW = 1 is one workgroup per row (GPUs).
// Workgroups are laid out on a 2-D grid; rows past R compute nothing and store nothing.
// IN_PLACE: read the logits from `out` itself (then `inp` is an unused dummy binding), so the
// attention scores can be turned into probabilities without a second [B,H,T,T] buffer.
override TPR: u32 = 64u;
override RPW: u32 = 1u;
override IN_PLACE: bool = false;

struct Params { R: u32, L: u32, scale: f32, };

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> wm: array<f32, TPR * RPW>;
var<workgroup> ws: array<f32, TPR * RPW>;

const LOWEST: f32 = -3.4028234e38;

fn logit(i: u32) -> f32 {
  if (IN_PLACE) { return p.scale * out[i]; }
  return p.scale * inp[i];
}

@compute @workgroup_size(TPR * RPW)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let lane = lid % TPR;
  let row = (wid.y * nwg.x + wid.x) * RPW + lid / TPR;
  let L = select(0u, p.L, row < p.R); // rows past R: empty loops, no early return (barriers)
  let base = row * p.L;

  var m = LOWEST;
  var s = 0.0;
  for (var j = lane; j < L; j += TPR) {
    let x = logit(base + j);
    if (x > m) {
      s = s * exp(m - x) + 1.0;
      m = x;
    } else {
      s += exp(x - m);
    }
  }
  if (TPR > 1u) {
    wm[lid] = m;
    ws[lid] = s;
    workgroupBarrier();
    for (var w = TPR / 2u; w > 0u; w /= 2u) {
      if (lane < w) {
        let m1 = wm[lid];
        let m2 = wm[lid + w];
        let mx = max(m1, m2);
        ws[lid] = ws[lid] * exp(m1 - mx) + ws[lid + w] * exp(m2 - mx);
        wm[lid] = mx;
      }
      workgroupBarrier();
    }
    m = wm[lid - lane];
    s = ws[lid - lane];
  }
  let inv = 1.0 / s;

  for (var j = lane; j < L; j += TPR) {
    out[base + j] = exp(logit(base + j) - m) * inv;
  }
}

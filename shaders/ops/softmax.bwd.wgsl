// Row-wise softmax backward (out = softmax(scale * inp), saved by the forward):
//   dinp[r, j] (+)= scale * out[r, j] * (dout[r, j] - sum_i dout[r, i] * out[r, i])
// dinp, dout, out: [R, L] row-major. Same layout as the forward: RPW rows of TPR invocations
// per workgroup; with TPR > 1 the dot product is a tree reduction in workgroup memory (f32).
// ACCUM: add into dinp (the llm.c convention); otherwise overwrite it.
// IN_PLACE: dout is read from `dinp` itself (then `dout` is an unused dummy binding): the
// attention backward turns dP into dS in place this way.
override TPR: u32 = 64u;
override RPW: u32 = 1u;
override ACCUM: bool = true;
override IN_PLACE: bool = false;

struct Params { R: u32, L: u32, scale: f32, };

@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> wsum: array<f32, TPR * RPW>;

fn grad(i: u32) -> f32 {
  if (IN_PLACE) { return dinp[i]; }
  return dout[i];
}

@compute @workgroup_size(TPR * RPW)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let lane = lid % TPR;
  let row = (wid.y * nwg.x + wid.x) * RPW + lid / TPR;
  let L = select(0u, p.L, row < p.R); // rows past R: empty loops, no early return (barriers)
  let base = row * p.L;

  var dot = 0.0;
  for (var j = lane; j < L; j += TPR) {
    dot += grad(base + j) * out[base + j];
  }
  if (TPR > 1u) {
    wsum[lid] = dot;
    workgroupBarrier();
    for (var w = TPR / 2u; w > 0u; w /= 2u) {
      if (lane < w) { wsum[lid] += wsum[lid + w]; }
      workgroupBarrier();
    }
    dot = wsum[lid - lane];
  }

  for (var j = lane; j < L; j += TPR) {
    let i = base + j;
    let g = grad(i); // read before the write below (same invocation, same element)
    var v = p.scale * out[i] * (g - dot);
    if (ACCUM) { v += dinp[i]; }
    dinp[i] = v;
  }
}

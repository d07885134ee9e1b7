// Row reductions of the LayerNorm kernels (forward and backward): TPR invocations per row,
// RPW rows per workgroup, both `override`s of the including shader, declared before the include.

var<workgroup> red: array<vec2<f32>, TPR * RPW>;
var<workgroup> red16: array<array<f32, 16>, select(1u, TPR * RPW, TPR > 1u)>;

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

// Adds the 16 partial sums of the row's TPR invocations; lane 0 gets the totals.
fn row_sum16(acc: array<f32, 16>, lid: u32, lane: u32) -> array<f32, 16> {
  if (TPR == 1u) { return acc; }
  red16[lid] = acc;
  workgroupBarrier();
  for (var w = TPR / 2u; w > 0u; w /= 2u) {
    if (lane < w) {
      for (var i = 0u; i < 16u; i++) { red16[lid][i] += red16[lid + w][i]; }
    }
    workgroupBarrier();
  }
  let total = red16[lid - lane];
  workgroupBarrier();
  return total;
}

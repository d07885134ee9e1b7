// LayerNorm backward, input gradient (adds into dinp):
//   xh = (inp - mean) * rstd,  g = dout * weight
//   dinp[n, c] += rstd * (g - mean_c(g) - xh * mean_c(g * xh))
//   dinp, dout, inp: [N, C]; weight: [C]; stats: [N, 2] = (mean, rstd) (saved by the forward).
// Two passes over the row: the two means, then the update. The weight and bias gradients are
// column sums over rows, done by layernorm.bwd_params.wgsl.
//
// LORA: first the gradient that the LoRA adapters reading the normalized row pass back
// (the backward of layernorm.fwd's fused down-projection; see common/lnlora.wgsl):
//   gu[n, r]  = scale_s * sum_o dy[n, col0_s + o] * B[col0_s + o, r]     (o < outF, r in s)
//   dout[n, c] += sum_s drop_s(sum_{r in s} gu[n, r] * A[r, c])
// dy [N, ldy] is the fused linear's output gradient, B = P[offB ..] [.., R], A = P[offA ..];
// gu is written out (the A gradients need it) and dout is updated in place (so the LayerNorm
// weight gradients see the whole input gradient), then the LayerNorm backward runs as above.
//
// Layout as in layernorm.fwd.wgsl: RPW rows of TPR invocations per workgroup, 2-D grid
// (with LORA and TPR > 1, one row per workgroup).
//#include "common/lnlora.wgsl"
override TPR: u32 = 64u;
override RPW: u32 = 1u;
override LORA: bool = false;
override DROPOUT: bool = false;

@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(1) var<storage, read_write> dout: array<f32>;
@group(0) @binding(2) var<storage, read> inp: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read> P: array<f32>;
@group(0) @binding(7) var<storage, read_write> gu: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

//#include "common/rowsum.wgsl"
var<workgroup> guW: array<f32, select(1u, 256u, TPR > 1u)>;

// gu of row `row` at r: from the workgroup copy (TPR > 1) or from what this invocation wrote.
fn guAt(row: u32, r: u32) -> f32 {
  if (TPR > 1u) { return guW[r]; }
  return gu[row * p.R + r];
}

@compute @workgroup_size(TPR * RPW)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let lane = lid % TPR;
  let row = (wid.y * nwg.x + wid.x) * RPW + lid / TPR;
  let valid = row < p.N;
  let C = select(0u, p.C, valid); // rows past N: empty loops, no early return (barriers)
  let base = row * p.C;
  var m = 0.0;
  var rs = 0.0;
  if (valid) {
    m = stats[2u * row];
    rs = stats[2u * row + 1u];
  }

  if (LORA) {
    let OUTF = select(0u, p.outF, valid);
    for (var r0 = 0u; r0 < p.R; r0 += 16u) {
      var acc = array<f32, 16>(); // zeroed for each chunk
      for (var s = 0u; s < p.nseg; s++) {
        let a = max(segR0(s), r0);
        let b = min(segR1(s), r0 + 16u);
        if (a >= b) { continue; }
        let c0 = segCol0(s);
        for (var o = lane; o < OUTF; o += TPR) {
          let d = dy[row * p.ldy + c0 + o];
          let brow = p.offB + (c0 + o) * p.R;
          for (var r = a; r < b; r++) { acc[r - r0] += d * P[brow + r]; }
        }
      }
      let tot = row_sum16(acc, lid, lane);
      if (lane == 0u && valid) {
        for (var i = 0u; i < 16u; i++) {
          let r = r0 + i;
          if (r < p.R) {
            let g = segScale(segOf(r)) * tot[i];
            gu[row * p.R + r] = g;
            if (TPR > 1u) { guW[r] = g; }
          }
        }
      }
    }
    if (TPR > 1u) { workgroupBarrier(); } // guW complete (TPR is an override: uniform)
    for (var j = lane; j < C; j += TPR) {
      var dl = dout[base + j];
      for (var s = 0u; s < p.nseg; s++) {
        var t = 0.0;
        for (var r = segR0(s); r < segR1(s); r++) { t += guAt(row, r) * P[p.offA + r * p.C + j]; }
        if (DROPOUT) { t = dropped(t, p.base + base + j, s); }
        dl += t;
      }
      dout[base + j] = dl;
    }
  }

  var acc2 = vec2<f32>(0.0);
  for (var j = lane; j < C; j += TPR) {
    let g = dout[base + j] * weight[j];
    let xh = (inp[base + j] - m) * rs;
    acc2 += vec2<f32>(g, g * xh);
  }
  let t = row_sum(acc2, lid, lane) / f32(p.C); // (mean(g), mean(g * xh))

  for (var j = lane; j < C; j += TPR) {
    let g = dout[base + j] * weight[j];
    let xh = (inp[base + j] - m) * rs;
    dinp[base + j] += rs * (g - t.x - xh * t.y);
  }
}

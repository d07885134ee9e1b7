// LayerNorm forward over the last dim (torch.nn.LayerNorm: biased variance, eps inside sqrt):
//   out[n, c] = (inp[n, c] - mean[n]) * rstd[n] * weight[c] + bias[c]
//   inp, out: [N, C]; weight, bias: [C]; stats: [N, 2] = (mean, rstd), saved for the backward.
// Variance by two passes over the row, never E[x^2] - E[x]^2 (residual streams carry rows with
// |mean| >> std): pass 1 gives m0 = mean(x); pass 2 sums e = x - m0 (exact when x ~ m0) and e^2,
// and the small mean(e) corrects both the mean and the variance (corrected two-pass algorithm:
// var = mean(e^2) - mean(e)^2). Pass 3 writes ((x - m0) - mean(e)) * rstd * w + b.
// Everything accumulates in f32.
//
// LORA: also the LoRA down-projections of the normalized row for the adapters that read it
// (LoRA inside the LayerNorm that feeds the adapted linears: no separate pass over the row):
//   u[n, r] = scale_s * sum_c drop_s(out[n, c]) * A[r, c]      r in segment s = [r0_s, r1_s)
// A = P[offA ..] is [R, C] (the adapters' A matrices stacked), u is [N, R]; segment s is one
// adapter (up to 3) with its scale alpha/r and its own dropout mask, the counter-based mask of
// ops/dropout.wgsl at index base + n * C + c with seeds (seed0, seed1_s) (DROPOUT; else none).
// The r are done 16 at a time: each invocation keeps 16 partial sums, then the row's TPR
// invocations add theirs in workgroup memory.
//
// F16_OUT (a define): `out` is packed f16 (src/gpu/f16.ts), written in pairs (C even).
// VEC4 (a define; C a multiple of 4): the three passes step over 4 columns at a time.
//
// Layout: a workgroup holds RPW rows of TPR invocations each (TPR a power of 2); the TPR
// partial sums of a row meet in a tree reduction in workgroup memory. TPR = 1 (one invocation
// per row) suits CPU backends such as SwiftShader; TPR = 64, RPW = 1 suits GPUs.
// Workgroups are laid out on a 2-D grid; rows past N compute nothing and store nothing.
//#include "common/lnlora.wgsl"
override TPR: u32 = 64u;
override RPW: u32 = 1u;
override LORA: bool = false;
override DROPOUT: bool = false;

//#if F16_OUT
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
//#else
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
//#endif
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;
@group(0) @binding(2) var<storage, read> inp: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> P: array<f32>;
@group(0) @binding(6) var<storage, read_write> u: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

//#include "common/rowsum.wgsl"

fn inp4(i: u32) -> vec4<f32> {
  return vec4<f32>(inp[i], inp[i + 1u], inp[i + 2u], inp[i + 3u]);
}

@compute @workgroup_size(TPR * RPW)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let lane = lid % TPR;
  let row = (wid.y * nwg.x + wid.x) * RPW + lid / TPR;
  let C = select(0u, p.C, row < p.N); // rows past N: empty loops, no early return (barriers)
  let base = row * p.C;
  let Cf = f32(p.C);

//#if VEC4
  // 4 columns per step (C a multiple of 4): a quarter of the loop steps, which dominate on CPU
  // adapters (one invocation per row there)
  var s4 = vec4<f32>(0.0);
  for (var j = 4u * lane; j < C; j += 4u * TPR) { s4 += inp4(base + j); }
  let s = (s4.x + s4.y) + (s4.z + s4.w);
//#else
  var s = 0.0;
  for (var j = lane; j < C; j += TPR) { s += inp[base + j]; }
//#endif
  let m0 = row_sum(vec2<f32>(s, 0.0), lid, lane).x / Cf; // exact for a constant row

  var d = vec2<f32>(0.0);
//#if VEC4
  for (var j = 4u * lane; j < C; j += 4u * TPR) {
    let e = inp4(base + j) - m0;
    d += vec2<f32>((e.x + e.y) + (e.z + e.w), dot(e, e));
  }
//#else
  for (var j = lane; j < C; j += TPR) {
    let e = inp[base + j] - m0;
    d += vec2<f32>(e, e * e);
  }
//#endif
  let t = row_sum(d, lid, lane) / Cf; // (mean(e), mean(e^2))
  let rs = inverseSqrt(max(t.y - t.x * t.x, 0.0) + p.eps);

//#if VEC4
  for (var j = 4u * lane; j < C; j += 4u * TPR) {
    let w = vec4<f32>(weight[j], weight[j + 1u], weight[j + 2u], weight[j + 3u]);
    let b = vec4<f32>(bias[j], bias[j + 1u], bias[j + 2u], bias[j + 3u]);
    let y = ((inp4(base + j) - m0) - t.x) * rs * w + b;
//#if F16_OUT
    let o = (base + j) >> 1u;
    out[o] = pack2x16float(y.xy);
    out[o + 1u] = pack2x16float(y.zw);
//#else
    out[base + j] = y.x;
    out[base + j + 1u] = y.y;
    out[base + j + 2u] = y.z;
    out[base + j + 3u] = y.w;
//#endif
  }
//#elif F16_OUT
  for (var j2 = lane; j2 < C / 2u; j2 += TPR) {
    let j = 2u * j2;
    let y0 = ((inp[base + j] - m0) - t.x) * rs * weight[j] + bias[j];
    let y1 = ((inp[base + j + 1u] - m0) - t.x) * rs * weight[j + 1u] + bias[j + 1u];
    out[(base >> 1u) + j2] = pack2x16float(vec2<f32>(y0, y1));
  }
//#else
  for (var j = lane; j < C; j += TPR) {
    out[base + j] = ((inp[base + j] - m0) - t.x) * rs * weight[j] + bias[j];
  }
//#endif
  if (lane == 0u && row < p.N) {
    stats[2u * row] = m0 + t.x;
    stats[2u * row + 1u] = rs;
  }
  if (!LORA) { return; } // uniform: an override constant

  for (var r0 = 0u; r0 < p.R; r0 += 16u) {
    var acc = array<f32, 16>(); // zeroed for each chunk
    for (var j = lane; j < C; j += TPR) {
      let y = ((inp[base + j] - m0) - t.x) * rs * weight[j] + bias[j];
      // the row value as each adapter sees it (its own dropout mask)
      var ys = vec3<f32>(y);
      if (DROPOUT) {
        let idx = p.base + base + j;
        ys = vec3<f32>(dropped(y, idx, 0u), dropped(y, idx, 1u), dropped(y, idx, 2u));
      }
      for (var i = 0u; i < 16u; i++) {
        let r = r0 + i;
        if (r < p.R) { acc[i] += ys[segOf(r)] * P[p.offA + r * p.C + j]; }
      }
    }
    let tot = row_sum16(acc, lid, lane);
    if (lane == 0u && row < p.N) {
      for (var i = 0u; i < 16u; i++) {
        let r = r0 + i;
        if (r < p.R) { u[row * p.R + r] = segScale(segOf(r)) * tot[i]; }
      }
    }
  }
}

// Exact GELU backward, element-wise (adds into dinp):
//   dinp[n] += dout[n] * (Phi(x) + x * phi(x)),   x = inp[n] (the forward's input, saved),
//   Phi(x) = erfc(-x / sqrt(2)) / 2,  phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
//   dinp, dout, inp: [N]
// The same erf as the forward (common/erf.wgsl). Large |x|: phi underflows to 0, so the
// derivative is exactly 0 (x << 0) or 1 (x >> 0), never NaN.
// ACCUM = false overwrites: dinp = dout * gelu'(x). IN_PLACE (with ACCUM = false) reads dout
// from `dinp` itself (then `dout` is an unused dummy binding): the MLP backward turns the
// gradient of the GELU output into that of its input without a second buffer.
//#include "common/erf.wgsl"
override WG: u32 = 256u;
override ACCUM: bool = true;
override IN_PLACE: bool = false;

struct Params { N: u32, };

@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
//#if F16_INP
@group(0) @binding(2) var<storage, read> inp: array<u32>; // packed f16 (src/gpu/f16.ts)
//#else
@group(0) @binding(2) var<storage, read> inp: array<f32>;
//#endif
@group(0) @binding(3) var<uniform> p: Params;

const INV_SQRT2: f32 = 0.70710678118654752;
const INV_SQRT_2PI: f32 = 0.39894228040143268;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let n = (wid.y * nwg.x + wid.x) * WG + lid;
  if (n >= p.N) { return; }
//#if F16_INP
  let x = unpack2x16float(inp[n >> 1u])[n & 1u];
//#else
  let x = inp[n];
//#endif
  let cdf = 0.5 * erfc_f32(-x * INV_SQRT2);
  let pdf = INV_SQRT_2PI * exp(-0.5 * x * x);
  let d = cdf + x * pdf;
  var g: f32;
  if (IN_PLACE) { g = dinp[n]; } else { g = dout[n]; }
  if (ACCUM) {
    dinp[n] += g * d;
  } else {
    dinp[n] = g * d;
  }
}

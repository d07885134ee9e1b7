// erf / erfc in f32 for WGSL, which has no built-in erf. Included with
//   //#include "common/erf.wgsl"
// by the exact-GELU shaders (ops/gelu.fwd, ops/gelu.bwd).
//
//   |x| < 1.125:  erf(x) = x + x * Q(x^2), the Maclaurin series 2/sqrt(pi) * sum_n (-1)^n
//                x^(2n+1) / (n! (2n+1)) to n = 12 (truncation < 2e-10 at 1.125), Horner with fma;
//                the leading term x is added last so it is not rounded.
//   |x| >= 1.125: erfc(z) = t * exp(-z^2 + P(t)), t = 1 / (1 + z/2), the Numerical Recipes
//                `erfcc` Chebyshev fit (fractional error < 1.2e-7 for every z >= 0); here
//                erfc <= 0.12, so its absolute error is < 1.5e-8. erf = 1 - erfc.
//   The cut balances the two error sources: rounding in the alternating series grows with |x|;
//   WGSL's exp may be off by 3 + 2|x| ulp, which costs less the smaller erfc is. In an f32
//   emulation with that worst exp, fused or unfused fma (WGSL allows both; SwiftShader does
//   not fuse), the max error is 9.5e-8 (cut at 1: 1.3e-7; at 1.25: 1.1e-7).
// `erfc_f32` keeps relative accuracy in the tail (no 1 - erf cancellation), which GELU uses
// for Phi(x) = erfc(-x / sqrt(2)) / 2 at negative x. Very large |x| gives exp(-huge) = 0:
// erf = +-1, erfc = 0 or 2, never NaN for finite x.
//
// Measured max |erf_f32(x) - erf(x)| over 200001 points in [-10, 10] against the float64 erf
// of src/ref/gelu.ts: 8.3e-8 on SwiftShader (Dawn/Vulkan, at x = -1.118); f32 itself rounds
// values near 0.9 by up to 3e-8. erfc_f32 in the tail: relative error up to 1.1e-5 at z ~ 9
// (z^2 rounded in f32; absolute error there < 1e-40).

// erf(x) for |x| < 1.125. Coefficients: 2/sqrt(pi) * (-1)^n / (n! (2n+1)), n = 12 down to 1,
// then 2/sqrt(pi) - 1 (x itself is added last).
fn erf_series_f32(x: f32) -> f32 {
  let s = x * x;
  var q = 9.422759064650411e-11;
  q = fma(q, s, -1.2290555301717926e-09);
  q = fma(q, s, 1.4807192815879218e-08);
  q = fma(q, s, -1.6365844691234924e-07);
  q = fma(q, s, 1.6462114365889246e-06);
  q = fma(q, s, -1.492565035840625e-05);
  q = fma(q, s, 0.00012055332981789664);
  q = fma(q, s, -0.0008548327023450852);
  q = fma(q, s, 0.005223977625442188);
  q = fma(q, s, -0.026866170645131252);
  q = fma(q, s, 0.11283791670955126);
  q = fma(q, s, -0.37612638903183754);
  q = fma(q, s, 0.12837916709551256);
  return fma(q, x, x);
}

// erfc(z) for z >= 1.125 (Numerical Recipes erfcc); 0 once exp underflows.
fn erfc_tail_f32(z: f32) -> f32 {
  let t = 1.0 / fma(0.5, z, 1.0);
  var r = 0.17087277;
  r = fma(r, t, -0.82215223);
  r = fma(r, t, 1.48851587);
  r = fma(r, t, -1.13520398);
  r = fma(r, t, 0.27886807);
  r = fma(r, t, -0.18628806);
  r = fma(r, t, 0.09678418);
  r = fma(r, t, 0.37409196);
  r = fma(r, t, 1.00002368);
  r = fma(r, t, -1.26551223);
  return t * exp(fma(-z, z, r));
}

fn erf_f32(x: f32) -> f32 {
  let z = abs(x);
  if (z < 1.125) { return erf_series_f32(x); }
  return sign(x) * (1.0 - erfc_tail_f32(z));
}

fn erfc_f32(x: f32) -> f32 {
  if (x >= 1.125) { return erfc_tail_f32(x); }
  if (x <= -1.125) { return 2.0 - erfc_tail_f32(-x); }
  return 1.0 - erf_series_f32(x);
}

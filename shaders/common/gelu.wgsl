// Exact GELU (torch.nn.functional.gelu, approximate='none') and its derivative, for kernels that
// fuse it (the generated matmul epilogues and prologues of src/ops/matmul-gen.ts):
//   gelu(x)  = x * Phi(x),            Phi(x) = erfc(-x / sqrt(2)) / 2
//   gelu'(x) = Phi(x) + x * phi(x),   phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
// Same formulas and erf as shaders/ops/gelu.fwd.wgsl / gelu.bwd.wgsl.
//#include "common/erf.wgsl"

fn gelu_f32(x: f32) -> f32 {
  return 0.5 * x * erfc_f32(-x * 0.70710678118654752);
}

fn gelu_grad_f32(x: f32) -> f32 {
  let cdf = 0.5 * erfc_f32(-x * 0.70710678118654752);
  let pdf = 0.39894228040143268 * exp(-0.5 * x * x);
  return cdf + x * pdf;
}

// AdamW update, torch.optim.AdamW semantics (decoupled weight decay, bias correction), in place
// on one parameter buffer. One invocation per element, grid-stride loop for very long buffers.
//   param [n], m [n], v [n]  (updated in place)
//   grad [n]                 (read; multiplied by gradScale, and by the clip factor with HAS_CLIP)
//   sumSq [1]                (HAS_CLIP: the global sum of squared gradients, from sumSquares)
//
//   g  = grad * gradScale * clip,  clip = min(1, maxNorm / (sqrt(sumSq) + 1e-6))  (torch's
//        clip_grad_norm_ coefficient; 1 without HAS_CLIP)
//   p  = p * (1 - lr * wd)
//   m  = b1 * m + (1 - b1) * g
//   v  = b2 * v + (1 - b2) * g^2
//   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),   bc1 = 1 - b1^t, bc2 = 1 - b2^t
// Everything that depends only on the hyper-parameters and t is computed on the CPU in float64.
override WG: u32 = 256u;
override HAS_CLIP: bool = false;

struct Params {
  n: u32,
  gradScale: f32,
  decay: f32,        // 1 - lr * wd
  beta1: f32,
  beta2: f32,
  oneMinusBeta1: f32,
  oneMinusBeta2: f32,
  stepSize: f32,     // lr / bc1
  invSqrtBc2: f32,   // 1 / sqrt(bc2)
  eps: f32,
  maxNorm: f32,
};

@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read_write> m: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;
@group(0) @binding(3) var<storage, read> grad: array<f32>;
@group(0) @binding(4) var<storage, read> sumSq: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  var scale = p.gradScale;
  if (HAS_CLIP) {
    scale *= min(1.0, p.maxNorm / (sqrt(sumSq[0]) + 1e-6));
  }
  let stride = nwg.x * WG;
  for (var i = gid.x; i < p.n; i += stride) {
    let g = grad[i] * scale;
    let mi = p.beta1 * m[i] + p.oneMinusBeta1 * g;
    let vi = p.beta2 * v[i] + p.oneMinusBeta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    let denom = sqrt(vi) * p.invSqrtBc2 + p.eps;
    param[i] = param[i] * p.decay - p.stepSize * mi / denom;
  }
}

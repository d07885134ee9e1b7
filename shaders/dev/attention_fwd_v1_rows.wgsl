// Lab variant v1 of the attention forward (tools/attention-lab.ts; not used by src/ops): fused
// like ops/attention.fwd, but for CPU adapters: no workgroup memory and no barriers, one query
// row per invocation, K and V read straight from qkv one key at a time with the online softmax
// update per key. Same bindings, Params and math as ops/attention.fwd.
// Measured on SwiftShader (Node, 2 cores shared, ViT-S B=8 T=201 H=6 Dh=64, no RoPE): 4.8 s of
// CPU per call vs 0.54 s for the 'matmul' variant (strided matmuls + row softmax), 9x slower:
// Subzero keeps the 16-vec4 q and o rows in memory and every key costs 32 vec4 gathers per lane,
// where the register-tiled matmul reuses each load 8-16 times. So the software adapter keeps the
// matmul variant.
//#include "ops/attention.common.wgsl"

@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

fn stOut(e: u32, v: vec4<f32>) { out[e >> 2u] = v; }

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.y / p.H;
  let h = wid.y % p.H;
  let i = wid.x * WG + lid;
  let t = min(i, p.T - 1u);
  let q = loadRow((b * p.T + t) * p.ld + p.offQ + h * p.Dh, t, p.prefix, p.scale);
  var o: Row;
  for (var c = 0u; c < DH4; c++) { o[c] = vec4<f32>(0.0); }
  var m = LOWEST;
  var l = 0.0;
  for (var j = 0u; j < p.T; j++) {
    let r = (b * p.T + j) * p.ld + h * p.Dh;
    var sj = 0.0;
    for (var c = 0u; c < DH4; c++) { sj += dot(q[c], loadChunk(r + p.offK, c, j, p.prefix)); }
    let mt = max(m, sj);
    let alpha = exp(m - mt);
    let pj = exp(sj - mt);
    l = l * alpha + pj;
    for (var c = 0u; c < DH4; c++) { o[c] = o[c] * alpha + pj * ldQKV(r + p.offV + 4u * c); }
    m = mt;
  }
  if (i < p.T) {
    let inv = 1.0 / l;
    let e0 = (b * p.T + i) * p.C + h * p.Dh;
    for (var c = 0u; c < DH4; c++) { stOut(e0 + 4u * c, o[c] * inv); }
    lse[wid.y * p.T + i] = m + log(l);
  }
}

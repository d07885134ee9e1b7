// Parameters and helpers shared by the LayerNorm kernels (ops/layernorm.fwd, ops/layernorm.bwd)
// for the LoRA adapters fused into them (src/ops/layernorm.ts `LnLora`): up to 3 adapters
// ("segments") read the normalized row; their A matrices are stacked into A [R, C] (segment s
// owns rows [r0_s, r1_s): r0_0 = 0, r1_s = r0_{s+1}, r1_last = R), their B matrices side by side
// in the block-diagonal B [outF * 3, R] of the fused linear (segment s owns the output columns
// [col0_s, col0_s + outF)); each has its own scale (alpha / r) and dropout mask seed.
struct Params {
  N: u32, C: u32, R: u32, nseg: u32,
  offA: u32, offB: u32, seed0: u32, thr: u32,
  base: u32, ldy: u32, outF: u32, r1_0: u32,
  r1_1: u32, r1_2: u32, seed1_0: u32, seed1_1: u32,
  seed1_2: u32, col0_0: u32, col0_1: u32, col0_2: u32,
  eps: f32, dscale: f32, scale0: f32, scale1: f32,
  scale2: f32,
};

fn segOf(r: u32) -> u32 { return select(select(2u, 1u, r < p.r1_1), 0u, r < p.r1_0); }
fn segScale(s: u32) -> f32 { return select(select(p.scale2, p.scale1, s == 1u), p.scale0, s == 0u); }
fn segSeed(s: u32) -> u32 { return select(select(p.seed1_2, p.seed1_1, s == 1u), p.seed1_0, s == 0u); }
fn segCol0(s: u32) -> u32 { return select(select(p.col0_2, p.col0_1, s == 1u), p.col0_0, s == 0u); }
fn segR0(s: u32) -> u32 { return select(select(p.r1_1, p.r1_0, s == 1u), 0u, s == 0u); }
fn segR1(s: u32) -> u32 { return select(select(p.r1_2, p.r1_1, s == 1u), p.r1_0, s == 0u); }

fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

// The counter-based inverted dropout of ops/dropout.wgsl for segment s's mask at index idx.
fn dropped(y: f32, idx: u32, s: u32) -> f32 {
  if (s >= p.nseg) { return 0.0; }
  let keep = pcg(pcg(pcg(p.seed0) ^ segSeed(s)) ^ idx) >= p.thr;
  return select(0.0, y * p.dscale, keep);
}

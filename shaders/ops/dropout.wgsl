// Inverted dropout with a counter-based mask, so the backward (and a gradient-cache re-forward)
// regenerates the same mask from (seed, index) without storing it:
//   keep(i) = hash(seed, i) >= p * 2^32;  out[i] = keep(i) ? inp[i] * scale : 0,  scale = 1/(1-p)
// ACCUM: out[i] += (the above) instead of overwriting (used to add a masked gradient into dx).
// The hash is a PCG-style integer mix of (seed.x, seed.y, i); see src/ref/dropout.ts.
override WG: u32 = 256u;
override ACCUM: bool = false;

struct Params { n: u32, seed0: u32, seed1: u32, threshold: u32, scale: f32, };

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

fn keepHash(i: u32) -> u32 {
  return pcg(pcg(pcg(p.seed0) ^ p.seed1) ^ i);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) { return; }
  var v = 0.0;
  if (keepHash(i) >= p.threshold) { v = inp[i] * p.scale; }
  if (ACCUM) { out[i] += v; } else { out[i] = v; }
}

// RoPE copy for the matmul variant of attention (src/ops/attention-matmul.ts), DINOv3 rows only:
// copies the q and k column blocks of B*T token rows from src to dst, rotating rows whose
// token t = r mod T is >= PREFIX with table row t - PREFIX (prefix rows are copied as they are):
//   forward (src = packed qkv, dst = a dense [B*T, 2C] scratch):  x' = R x
//   BACKWARD (src = the scratch of gradients w.r.t. rotated q, k, dst = dqkv):  dx = R^T dy
// Block z (0 = q, 1 = k) of row r starts at element r*ldS + offS[z] in src, r*ldD + offD[z] in
// dst; head h owns its Dh columns. Half-split pairs (d, d + Dh/2), d < Dh/2 (hd = Dh/2):
//   forward:   x'[d] = x[d] cos[d] - x[d+hd] sin[d]      x'[d+hd] = x[d+hd] cos[d+hd] + x[d] sin[d+hd]
//   BACKWARD:  dx[d] = dy[d] cos[d] + dy[d+hd] sin[d+hd]  dx[d+hd] = dy[d+hd] cos[d+hd] - dy[d] sin[d]
// One invocation per (row, block, head), looping over d < hd (one per pair cost CPU adapters,
// the only users of this variant, ~1.8x more: their cost is per invocation and per loop step,
// and a pair is little work); a 2-D grid of workgroups. Every element of src and dst goes
// through ldSrc / stDst (the storage type changes in one place).
override WG: u32 = 64u;
override BACKWARD: bool = false;

struct Params {
  rows: u32, T: u32, H: u32, Dh: u32,
  prefix: u32, ldS: u32, offS0: u32, offS1: u32,
  ldD: u32, offD0: u32, offD1: u32,
};

@group(0) @binding(0) var<storage, read_write> dst: array<f32>;
//#if F16_QKV
@group(0) @binding(1) var<storage, read> src: array<u32>;
//#else
@group(0) @binding(1) var<storage, read> src: array<f32>;
//#endif
@group(0) @binding(2) var<storage, read> cosT: array<f32>;
@group(0) @binding(3) var<storage, read> sinT: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

//#if F16_QKV
fn ldSrc(e: u32) -> f32 { return unpack2x16float(src[e >> 1u])[e & 1u]; }
//#else
fn ldSrc(e: u32) -> f32 { return src[e]; }
//#endif
fn stDst(e: u32, v: f32) { dst[e] = v; }

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let hd = p.Dh / 2u;
  let i = gid.y * nwg.x * WG + gid.x;
  if (i >= p.rows * 2u * p.H) { return; }
  let h = i % p.H;
  let rest = i / p.H;
  let z = rest % 2u;
  let r = rest / 2u;
  let s0 = r * p.ldS + select(p.offS0, p.offS1, z == 1u) + h * p.Dh;
  let e0 = r * p.ldD + select(p.offD0, p.offD1, z == 1u) + h * p.Dh;
  let t = r % p.T;
  if (t < p.prefix) {
    for (var d = 0u; d < p.Dh; d++) { stDst(e0 + d, ldSrc(s0 + d)); }
    return;
  }
  let tb = (t - p.prefix) * p.Dh;
  for (var d = 0u; d < hd; d++) {
    let x = ldSrc(s0 + d);
    let c = ldSrc(s0 + d + hd);
    let t1 = tb + d;
    let t2 = t1 + hd;
    if (BACKWARD) {
      stDst(e0 + d, x * cosT[t1] + c * sinT[t2]);
      stDst(e0 + d + hd, c * cosT[t2] - x * sinT[t1]);
    } else {
      stDst(e0 + d, x * cosT[t1] - c * sinT[t1]);
      stDst(e0 + d + hd, c * cosT[t2] + x * sinT[t2]);
    }
  }
}

// The softmax step of the matmul variant's attention backward (src/ops/attention-matmul.ts), per
// query row r = (b*H + h)*T + i, on S (the recomputed scaled scores) and dP = dO V^T, both [R, T]:
//   D_r = dO_i . O_i over head h's Dh columns of dout, out [B*T, C]
//   S[r, j]  <- P_rj = exp(S[r, j] - lse_r)      (P as the forward had it; for dV = P^T dO)
//   dP[r, j] <- dS_rj = P_rj (dP[r, j] - D_r)    (for dQ = scale dS K, dK = scale dS^T Q)
// One invocation per row, RPW rows per workgroup, a 2-D grid; f32. dout and out are read
// through ldDout / ldOut (the storage type changes in one place).
override RPW: u32 = 64u;

struct Params { R: u32, T: u32, H: u32, Dh: u32, C: u32, };

@group(0) @binding(0) var<storage, read_write> S: array<f32>;
@group(0) @binding(1) var<storage, read_write> dP: array<f32>;
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;
//#if F16_OUT
@group(0) @binding(4) var<storage, read> out: array<u32>;
//#else
@group(0) @binding(4) var<storage, read> out: array<f32>;
//#endif
@group(0) @binding(5) var<uniform> p: Params;

fn ldDout(e: u32) -> f32 { return dout[e]; }
//#if F16_OUT
fn ldOut(e: u32) -> f32 { return unpack2x16float(out[e >> 1u])[e & 1u]; }
//#else
fn ldOut(e: u32) -> f32 { return out[e]; }
//#endif

@compute @workgroup_size(RPW)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = gid.y * nwg.x * RPW + gid.x;
  if (r >= p.R) { return; }
  let i = r % p.T;
  let bh = r / p.T;
  let e0 = ((bh / p.H) * p.T + i) * p.C + (bh % p.H) * p.Dh;
  var D = 0.0;
  for (var d = 0u; d < p.Dh; d++) { D += ldDout(e0 + d) * ldOut(e0 + d); }
  let L = lse[r];
  let base = r * p.T;
  for (var j = 0u; j < p.T; j++) {
    let P = exp(S[base + j] - L);
    S[base + j] = P;
    dP[base + j] = P * (dP[base + j] - D);
  }
}

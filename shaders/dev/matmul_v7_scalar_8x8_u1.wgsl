// Kernel lab v7_scalar_8x8_u1: v5 with scalar loads from array<f32> (any strides and offsets),
// k unrolled by 1. op(A)[m,k] is A[base + m*sAm + k*sAk], op(B)[k,n] is B[base + k*sBk + n*sBn].
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ACCUM: bool = false;
override HAS_BIAS: bool = false;
override WG_X: u32 = 4u;
override WG_Y: u32 = 4u;

struct Params {
  M: u32, N: u32, K: u32, lda: u32,
  ldb: u32, ldc: u32, offA: u32, offB: u32,
  offC: u32, NB2: u32, sA1: u32, sA2: u32,
  sB1: u32, sB2: u32, sC1: u32, sC2: u32,
  alpha: f32,
};

@group(0) @binding(0) var<storage, read_write> C: array<f32>;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

fn store4(baseC: u32, m: u32, n0: u32, acc: vec4<f32>) {
  if (m >= p.M) { return; }
  for (var j = 0u; j < 4u; j++) {
    let n = n0 + j;
    if (n >= p.N) { return; }
    var v = p.alpha * acc[j];
    if (HAS_BIAS) { v += bias[n]; }
    let ci = baseC + m * p.ldc + n;
    if (ACCUM) { v += C[ci]; }
    C[ci] = v;
  }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n0 = gid.x * 8u;
  let m0 = gid.y * 8u;
  if (n0 >= p.N || m0 >= p.M) { return; }
  let z = gid.z;
  let z1 = z / p.NB2;
  let z2 = z % p.NB2;
  let baseA = p.offA + z1 * p.sA1 + z2 * p.sA2;
  let baseB = p.offB + z1 * p.sB1 + z2 * p.sB2;
  let baseC = p.offC + z1 * p.sC1 + z2 * p.sC2;
  // element strides of op(A) along m and k, of op(B) along k and n
  let sAm = select(p.lda, 1u, TRANS_A);
  let sAk = select(1u, p.lda, TRANS_A);
  let sBk = select(p.ldb, 1u, TRANS_B);
  let sBn = select(1u, p.ldb, TRANS_B);
  let a0 = baseA + min(m0 + 0u, p.M - 1u) * sAm;
  let a1 = baseA + min(m0 + 1u, p.M - 1u) * sAm;
  let a2 = baseA + min(m0 + 2u, p.M - 1u) * sAm;
  let a3 = baseA + min(m0 + 3u, p.M - 1u) * sAm;
  let a4 = baseA + min(m0 + 4u, p.M - 1u) * sAm;
  let a5 = baseA + min(m0 + 5u, p.M - 1u) * sAm;
  let a6 = baseA + min(m0 + 6u, p.M - 1u) * sAm;
  let a7 = baseA + min(m0 + 7u, p.M - 1u) * sAm;
  let b0 = baseB + min(n0 + 0u, p.N - 1u) * sBn;
  let b1 = baseB + min(n0 + 1u, p.N - 1u) * sBn;
  let b2 = baseB + min(n0 + 2u, p.N - 1u) * sBn;
  let b3 = baseB + min(n0 + 3u, p.N - 1u) * sBn;
  let b4 = baseB + min(n0 + 4u, p.N - 1u) * sBn;
  let b5 = baseB + min(n0 + 5u, p.N - 1u) * sBn;
  let b6 = baseB + min(n0 + 6u, p.N - 1u) * sBn;
  let b7 = baseB + min(n0 + 7u, p.N - 1u) * sBn;
  var c0_0 = vec4<f32>(0.0); var c0_1 = vec4<f32>(0.0);
  var c1_0 = vec4<f32>(0.0); var c1_1 = vec4<f32>(0.0);
  var c2_0 = vec4<f32>(0.0); var c2_1 = vec4<f32>(0.0);
  var c3_0 = vec4<f32>(0.0); var c3_1 = vec4<f32>(0.0);
  var c4_0 = vec4<f32>(0.0); var c4_1 = vec4<f32>(0.0);
  var c5_0 = vec4<f32>(0.0); var c5_1 = vec4<f32>(0.0);
  var c6_0 = vec4<f32>(0.0); var c6_1 = vec4<f32>(0.0);
  var c7_0 = vec4<f32>(0.0); var c7_1 = vec4<f32>(0.0);
  var ka = 0u;
  var kb = 0u;
  for (var k = 0u; k < p.K; k++) {
    let xa0 = vec4<f32>(A[a0 + ka], A[a1 + ka], A[a2 + ka], A[a3 + ka]);
    let xa1 = vec4<f32>(A[a4 + ka], A[a5 + ka], A[a6 + ka], A[a7 + ka]);
    let yb0 = vec4<f32>(B[b0 + kb], B[b1 + kb], B[b2 + kb], B[b3 + kb]);
    let yb1 = vec4<f32>(B[b4 + kb], B[b5 + kb], B[b6 + kb], B[b7 + kb]);
    ka += sAk;
    kb += sBk;
    c0_0 += xa0[0] * yb0; c0_1 += xa0[0] * yb1;
    c1_0 += xa0[1] * yb0; c1_1 += xa0[1] * yb1;
    c2_0 += xa0[2] * yb0; c2_1 += xa0[2] * yb1;
    c3_0 += xa0[3] * yb0; c3_1 += xa0[3] * yb1;
    c4_0 += xa1[0] * yb0; c4_1 += xa1[0] * yb1;
    c5_0 += xa1[1] * yb0; c5_1 += xa1[1] * yb1;
    c6_0 += xa1[2] * yb0; c6_1 += xa1[2] * yb1;
    c7_0 += xa1[3] * yb0; c7_1 += xa1[3] * yb1;
  }
  store4(baseC, m0 + 0u, n0 + 0u, c0_0); store4(baseC, m0 + 0u, n0 + 4u, c0_1);
  store4(baseC, m0 + 1u, n0 + 0u, c1_0); store4(baseC, m0 + 1u, n0 + 4u, c1_1);
  store4(baseC, m0 + 2u, n0 + 0u, c2_0); store4(baseC, m0 + 2u, n0 + 4u, c2_1);
  store4(baseC, m0 + 3u, n0 + 0u, c3_0); store4(baseC, m0 + 3u, n0 + 4u, c3_1);
  store4(baseC, m0 + 4u, n0 + 0u, c4_0); store4(baseC, m0 + 4u, n0 + 4u, c4_1);
  store4(baseC, m0 + 5u, n0 + 0u, c5_0); store4(baseC, m0 + 5u, n0 + 4u, c5_1);
  store4(baseC, m0 + 6u, n0 + 0u, c6_0); store4(baseC, m0 + 6u, n0 + 4u, c6_1);
  store4(baseC, m0 + 7u, n0 + 0u, c7_0); store4(baseC, m0 + 7u, n0 + 4u, c7_1);
}

// Kernel lab v5_8x16: v3 generalised to a 8x16 register tile (unrolled; written out by a
// throwaway script, since loops over arrays are not unrolled on SwiftShader, see v4). Same
// bindings and alignment contract as v2/v3: lda, ldb, offA, offB, batch strides of A and B
// multiples of 4; M, N, K free.
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ACCUM: bool = false;
override HAS_BIAS: bool = false;
override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

struct Params {
  M: u32, N: u32, K: u32, lda: u32,
  ldb: u32, ldc: u32, offA: u32, offB: u32,
  offC: u32, NB2: u32, sA1: u32, sA2: u32,
  sB1: u32, sB2: u32, sC1: u32, sC2: u32,
  alpha: f32,
};

@group(0) @binding(0) var<storage, read_write> C: array<f32>;
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

fn elemA(e: u32) -> f32 { return A[e >> 2u][e & 3u]; }
fn elemB(e: u32) -> f32 { return B[e >> 2u][e & 3u]; }


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
  let n0 = gid.x * 16u;
  let m0 = gid.y * 8u;
  if (n0 >= p.N || m0 >= p.M) { return; }
  let z1 = gid.z / p.NB2;
  let z2 = gid.z % p.NB2;
  let baseA = p.offA + z1 * p.sA1 + z2 * p.sA2;
  let baseB = p.offB + z1 * p.sB1 + z2 * p.sB2;
  let baseC = p.offC + z1 * p.sC1 + z2 * p.sC2;
  let aStep = select(p.lda, 1u, !TRANS_A);
  let bStep = select(p.ldb, 1u, TRANS_B);

  let ea00 = baseA + select(min(m0 + 0u, p.M - 1u) * p.lda, 0u * p.lda + m0 + 0u, TRANS_A);
  let ea01 = baseA + select(min(m0 + 1u, p.M - 1u) * p.lda, 1u * p.lda + m0 + 0u, TRANS_A);
  let ea02 = baseA + select(min(m0 + 2u, p.M - 1u) * p.lda, 2u * p.lda + m0 + 0u, TRANS_A);
  let ea03 = baseA + select(min(m0 + 3u, p.M - 1u) * p.lda, 3u * p.lda + m0 + 0u, TRANS_A);
  let ea10 = baseA + select(min(m0 + 4u, p.M - 1u) * p.lda, 0u * p.lda + m0 + 4u, TRANS_A);
  let ea11 = baseA + select(min(m0 + 5u, p.M - 1u) * p.lda, 1u * p.lda + m0 + 4u, TRANS_A);
  let ea12 = baseA + select(min(m0 + 6u, p.M - 1u) * p.lda, 2u * p.lda + m0 + 4u, TRANS_A);
  let ea13 = baseA + select(min(m0 + 7u, p.M - 1u) * p.lda, 3u * p.lda + m0 + 4u, TRANS_A);
  let eb00 = baseB + select(0u * p.ldb + n0 + 0u, min(n0 + 0u, p.N - 1u) * p.ldb, TRANS_B);
  let eb01 = baseB + select(1u * p.ldb + n0 + 0u, min(n0 + 1u, p.N - 1u) * p.ldb, TRANS_B);
  let eb02 = baseB + select(2u * p.ldb + n0 + 0u, min(n0 + 2u, p.N - 1u) * p.ldb, TRANS_B);
  let eb03 = baseB + select(3u * p.ldb + n0 + 0u, min(n0 + 3u, p.N - 1u) * p.ldb, TRANS_B);
  let eb10 = baseB + select(0u * p.ldb + n0 + 4u, min(n0 + 4u, p.N - 1u) * p.ldb, TRANS_B);
  let eb11 = baseB + select(1u * p.ldb + n0 + 4u, min(n0 + 5u, p.N - 1u) * p.ldb, TRANS_B);
  let eb12 = baseB + select(2u * p.ldb + n0 + 4u, min(n0 + 6u, p.N - 1u) * p.ldb, TRANS_B);
  let eb13 = baseB + select(3u * p.ldb + n0 + 4u, min(n0 + 7u, p.N - 1u) * p.ldb, TRANS_B);
  let eb20 = baseB + select(0u * p.ldb + n0 + 8u, min(n0 + 8u, p.N - 1u) * p.ldb, TRANS_B);
  let eb21 = baseB + select(1u * p.ldb + n0 + 8u, min(n0 + 9u, p.N - 1u) * p.ldb, TRANS_B);
  let eb22 = baseB + select(2u * p.ldb + n0 + 8u, min(n0 + 10u, p.N - 1u) * p.ldb, TRANS_B);
  let eb23 = baseB + select(3u * p.ldb + n0 + 8u, min(n0 + 11u, p.N - 1u) * p.ldb, TRANS_B);
  let eb30 = baseB + select(0u * p.ldb + n0 + 12u, min(n0 + 12u, p.N - 1u) * p.ldb, TRANS_B);
  let eb31 = baseB + select(1u * p.ldb + n0 + 12u, min(n0 + 13u, p.N - 1u) * p.ldb, TRANS_B);
  let eb32 = baseB + select(2u * p.ldb + n0 + 12u, min(n0 + 14u, p.N - 1u) * p.ldb, TRANS_B);
  let eb33 = baseB + select(3u * p.ldb + n0 + 12u, min(n0 + 15u, p.N - 1u) * p.ldb, TRANS_B);
  var c0_0 = vec4<f32>(0.0); var c0_1 = vec4<f32>(0.0); var c0_2 = vec4<f32>(0.0); var c0_3 = vec4<f32>(0.0);
  var c1_0 = vec4<f32>(0.0); var c1_1 = vec4<f32>(0.0); var c1_2 = vec4<f32>(0.0); var c1_3 = vec4<f32>(0.0);
  var c2_0 = vec4<f32>(0.0); var c2_1 = vec4<f32>(0.0); var c2_2 = vec4<f32>(0.0); var c2_3 = vec4<f32>(0.0);
  var c3_0 = vec4<f32>(0.0); var c3_1 = vec4<f32>(0.0); var c3_2 = vec4<f32>(0.0); var c3_3 = vec4<f32>(0.0);
  var c4_0 = vec4<f32>(0.0); var c4_1 = vec4<f32>(0.0); var c4_2 = vec4<f32>(0.0); var c4_3 = vec4<f32>(0.0);
  var c5_0 = vec4<f32>(0.0); var c5_1 = vec4<f32>(0.0); var c5_2 = vec4<f32>(0.0); var c5_3 = vec4<f32>(0.0);
  var c6_0 = vec4<f32>(0.0); var c6_1 = vec4<f32>(0.0); var c6_2 = vec4<f32>(0.0); var c6_3 = vec4<f32>(0.0);
  var c7_0 = vec4<f32>(0.0); var c7_1 = vec4<f32>(0.0); var c7_2 = vec4<f32>(0.0); var c7_3 = vec4<f32>(0.0);
  let KB = p.K >> 2u;
  var ia = 0u;
  var ib = 0u;
  let a00 = ea00 >> 2u; let a01 = ea01 >> 2u; let a02 = ea02 >> 2u; let a03 = ea03 >> 2u;
  let a10 = ea10 >> 2u; let a11 = ea11 >> 2u; let a12 = ea12 >> 2u; let a13 = ea13 >> 2u;
  let b00 = eb00 >> 2u; let b01 = eb01 >> 2u; let b02 = eb02 >> 2u; let b03 = eb03 >> 2u;
  let b10 = eb10 >> 2u; let b11 = eb11 >> 2u; let b12 = eb12 >> 2u; let b13 = eb13 >> 2u;
  let b20 = eb20 >> 2u; let b21 = eb21 >> 2u; let b22 = eb22 >> 2u; let b23 = eb23 >> 2u;
  let b30 = eb30 >> 2u; let b31 = eb31 >> 2u; let b32 = eb32 >> 2u; let b33 = eb33 >> 2u;
  for (var kb = 0u; kb < KB; kb++) {
    var x0 = mat4x4<f32>(A[a00 + ia], A[a01 + ia], A[a02 + ia], A[a03 + ia]);
    var x1 = mat4x4<f32>(A[a10 + ia], A[a11 + ia], A[a12 + ia], A[a13 + ia]);
    var y0 = mat4x4<f32>(B[b00 + ib], B[b01 + ib], B[b02 + ib], B[b03 + ib]);
    var y1 = mat4x4<f32>(B[b10 + ib], B[b11 + ib], B[b12 + ib], B[b13 + ib]);
    var y2 = mat4x4<f32>(B[b20 + ib], B[b21 + ib], B[b22 + ib], B[b23 + ib]);
    var y3 = mat4x4<f32>(B[b30 + ib], B[b31 + ib], B[b32 + ib], B[b33 + ib]);
    ia += aStep;
    ib += bStep;
    if (TRANS_A) { x0 = transpose(x0); x1 = transpose(x1); }
    if (TRANS_B) { y0 = transpose(y0); y1 = transpose(y1); y2 = transpose(y2); y3 = transpose(y3); }
    c0_0 += y0 * x0[0]; c0_1 += y1 * x0[0]; c0_2 += y2 * x0[0]; c0_3 += y3 * x0[0];
    c1_0 += y0 * x0[1]; c1_1 += y1 * x0[1]; c1_2 += y2 * x0[1]; c1_3 += y3 * x0[1];
    c2_0 += y0 * x0[2]; c2_1 += y1 * x0[2]; c2_2 += y2 * x0[2]; c2_3 += y3 * x0[2];
    c3_0 += y0 * x0[3]; c3_1 += y1 * x0[3]; c3_2 += y2 * x0[3]; c3_3 += y3 * x0[3];
    c4_0 += y0 * x1[0]; c4_1 += y1 * x1[0]; c4_2 += y2 * x1[0]; c4_3 += y3 * x1[0];
    c5_0 += y0 * x1[1]; c5_1 += y1 * x1[1]; c5_2 += y2 * x1[1]; c5_3 += y3 * x1[1];
    c6_0 += y0 * x1[2]; c6_1 += y1 * x1[2]; c6_2 += y2 * x1[2]; c6_3 += y3 * x1[2];
    c7_0 += y0 * x1[3]; c7_1 += y1 * x1[3]; c7_2 += y2 * x1[3]; c7_3 += y3 * x1[3];
  }
  for (var k = KB * 4u; k < p.K; k++) {
    var av0: vec4<f32>;
    if (TRANS_A) { av0 = A[(ea00 + k * p.lda) >> 2u]; }
    else { av0 = vec4<f32>(elemA(ea00 + k), elemA(ea01 + k), elemA(ea02 + k), elemA(ea03 + k)); }
    var av1: vec4<f32>;
    if (TRANS_A) { av1 = A[(ea10 + k * p.lda) >> 2u]; }
    else { av1 = vec4<f32>(elemA(ea10 + k), elemA(ea11 + k), elemA(ea12 + k), elemA(ea13 + k)); }
    var bv0: vec4<f32>;
    if (TRANS_B) { bv0 = vec4<f32>(elemB(eb00 + k), elemB(eb01 + k), elemB(eb02 + k), elemB(eb03 + k)); }
    else { bv0 = B[(eb00 + k * p.ldb) >> 2u]; }
    var bv1: vec4<f32>;
    if (TRANS_B) { bv1 = vec4<f32>(elemB(eb10 + k), elemB(eb11 + k), elemB(eb12 + k), elemB(eb13 + k)); }
    else { bv1 = B[(eb10 + k * p.ldb) >> 2u]; }
    var bv2: vec4<f32>;
    if (TRANS_B) { bv2 = vec4<f32>(elemB(eb20 + k), elemB(eb21 + k), elemB(eb22 + k), elemB(eb23 + k)); }
    else { bv2 = B[(eb20 + k * p.ldb) >> 2u]; }
    var bv3: vec4<f32>;
    if (TRANS_B) { bv3 = vec4<f32>(elemB(eb30 + k), elemB(eb31 + k), elemB(eb32 + k), elemB(eb33 + k)); }
    else { bv3 = B[(eb30 + k * p.ldb) >> 2u]; }
    c0_0 += av0[0] * bv0; c0_1 += av0[0] * bv1; c0_2 += av0[0] * bv2; c0_3 += av0[0] * bv3;
    c1_0 += av0[1] * bv0; c1_1 += av0[1] * bv1; c1_2 += av0[1] * bv2; c1_3 += av0[1] * bv3;
    c2_0 += av0[2] * bv0; c2_1 += av0[2] * bv1; c2_2 += av0[2] * bv2; c2_3 += av0[2] * bv3;
    c3_0 += av0[3] * bv0; c3_1 += av0[3] * bv1; c3_2 += av0[3] * bv2; c3_3 += av0[3] * bv3;
    c4_0 += av1[0] * bv0; c4_1 += av1[0] * bv1; c4_2 += av1[0] * bv2; c4_3 += av1[0] * bv3;
    c5_0 += av1[1] * bv0; c5_1 += av1[1] * bv1; c5_2 += av1[1] * bv2; c5_3 += av1[1] * bv3;
    c6_0 += av1[2] * bv0; c6_1 += av1[2] * bv1; c6_2 += av1[2] * bv2; c6_3 += av1[2] * bv3;
    c7_0 += av1[3] * bv0; c7_1 += av1[3] * bv1; c7_2 += av1[3] * bv2; c7_3 += av1[3] * bv3;
  }
  store4(baseC, m0 + 0u, n0 + 0u, c0_0); store4(baseC, m0 + 0u, n0 + 4u, c0_1); store4(baseC, m0 + 0u, n0 + 8u, c0_2); store4(baseC, m0 + 0u, n0 + 12u, c0_3);
  store4(baseC, m0 + 1u, n0 + 0u, c1_0); store4(baseC, m0 + 1u, n0 + 4u, c1_1); store4(baseC, m0 + 1u, n0 + 8u, c1_2); store4(baseC, m0 + 1u, n0 + 12u, c1_3);
  store4(baseC, m0 + 2u, n0 + 0u, c2_0); store4(baseC, m0 + 2u, n0 + 4u, c2_1); store4(baseC, m0 + 2u, n0 + 8u, c2_2); store4(baseC, m0 + 2u, n0 + 12u, c2_3);
  store4(baseC, m0 + 3u, n0 + 0u, c3_0); store4(baseC, m0 + 3u, n0 + 4u, c3_1); store4(baseC, m0 + 3u, n0 + 8u, c3_2); store4(baseC, m0 + 3u, n0 + 12u, c3_3);
  store4(baseC, m0 + 4u, n0 + 0u, c4_0); store4(baseC, m0 + 4u, n0 + 4u, c4_1); store4(baseC, m0 + 4u, n0 + 8u, c4_2); store4(baseC, m0 + 4u, n0 + 12u, c4_3);
  store4(baseC, m0 + 5u, n0 + 0u, c5_0); store4(baseC, m0 + 5u, n0 + 4u, c5_1); store4(baseC, m0 + 5u, n0 + 8u, c5_2); store4(baseC, m0 + 5u, n0 + 12u, c5_3);
  store4(baseC, m0 + 6u, n0 + 0u, c6_0); store4(baseC, m0 + 6u, n0 + 4u, c6_1); store4(baseC, m0 + 6u, n0 + 8u, c6_2); store4(baseC, m0 + 6u, n0 + 12u, c6_3);
  store4(baseC, m0 + 7u, n0 + 0u, c7_0); store4(baseC, m0 + 7u, n0 + 4u, c7_1); store4(baseC, m0 + 7u, n0 + 8u, c7_2); store4(baseC, m0 + 7u, n0 + 12u, c7_3);
}

// Kernel lab v3: vec4 loads, 8x8 register tile per invocation, unrolled by hand.
//
//   C[z] = alpha * op(A[z]) * op(B[z]) (+ bias[n]) (+ C[z] when ACCUM)      (as ops/matmul)
//
// As v2 (same bindings, same alignment contract: lda, ldb, offA, offB and the batch strides of A
// and B multiples of 4; M, N, K free) but each invocation owns rows m0..m0+7 and columns
// n0..n0+7, so a k-block of 4 loads 8+8 vec4s for 256 multiply-adds (v2: 8 for 64). On
// SwiftShader every per-invocation load is a gather, so fewer loads per FMA is what counts.
// A k-block is held as 4x4 matrices: a[h] = rows 4h..4h+3 of op(A) (k..k+3 along each row),
// b[h] = rows k..k+3 of op(B), columns n0+4h..n0+4h+3; then acc[i][h] += b[h] * a[i/4][i%4].
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

fn storeRow(baseC: u32, m: u32, n0: u32, lo: vec4<f32>, hi: vec4<f32>) {
  if (m >= p.M) { return; }
  for (var j = 0u; j < 8u; j++) {
    let n = n0 + j;
    if (n >= p.N) { return; }
    var v = p.alpha * select(hi[j & 3u], lo[j & 3u], j < 4u);
    if (HAS_BIAS) { v += bias[n]; }
    let ci = baseC + m * p.ldc + n;
    if (ACCUM) { v += C[ci]; }
    C[ci] = v;
  }
}

// Offsets (elements) of the 8 lines an operand is read by, relative to its base, for
// k-contiguous storage (line i = row min(r0+i, rows-1)) or row-contiguous storage (lines are
// rows k..k+3 of the stored matrix, at columns r0..r0+3 and r0+4..r0+7).
fn lines(kContig: bool, r0: u32, rows: u32, ld: u32) -> array<u32, 8> {
  var o: array<u32, 8>;
  if (kContig) {
    for (var i = 0u; i < 8u; i++) { o[i] = min(r0 + i, rows - 1u) * ld; }
  } else {
    for (var r = 0u; r < 4u; r++) { o[r] = r * ld + r0; o[r + 4u] = r * ld + r0 + 4u; }
  }
  return o;
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n0 = gid.x * 8u;
  let m0 = gid.y * 8u;
  if (n0 >= p.N || m0 >= p.M) { return; }
  let z1 = gid.z / p.NB2;
  let z2 = gid.z % p.NB2;
  let baseA = p.offA + z1 * p.sA1 + z2 * p.sA2;
  let baseB = p.offB + z1 * p.sB1 + z2 * p.sB2;
  let baseC = p.offC + z1 * p.sC1 + z2 * p.sC2;

  let la = lines(!TRANS_A, m0, p.M, p.lda);
  let lb = lines(TRANS_B, n0, p.N, p.ldb);
  // vec4 indices of the lines; step per k-block: one vec4 along k, or 4 rows.
  let a0 = (baseA + la[0]) >> 2u; let a1 = (baseA + la[1]) >> 2u;
  let a2 = (baseA + la[2]) >> 2u; let a3 = (baseA + la[3]) >> 2u;
  let a4 = (baseA + la[4]) >> 2u; let a5 = (baseA + la[5]) >> 2u;
  let a6 = (baseA + la[6]) >> 2u; let a7 = (baseA + la[7]) >> 2u;
  let b0 = (baseB + lb[0]) >> 2u; let b1 = (baseB + lb[1]) >> 2u;
  let b2 = (baseB + lb[2]) >> 2u; let b3 = (baseB + lb[3]) >> 2u;
  let b4 = (baseB + lb[4]) >> 2u; let b5 = (baseB + lb[5]) >> 2u;
  let b6 = (baseB + lb[6]) >> 2u; let b7 = (baseB + lb[7]) >> 2u;
  let aStep = select(p.lda, 1u, !TRANS_A);
  let bStep = select(p.ldb, 1u, TRANS_B);

  var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0);
  var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0);
  var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0);
  var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0);
  var c40 = vec4<f32>(0.0); var c41 = vec4<f32>(0.0);
  var c50 = vec4<f32>(0.0); var c51 = vec4<f32>(0.0);
  var c60 = vec4<f32>(0.0); var c61 = vec4<f32>(0.0);
  var c70 = vec4<f32>(0.0); var c71 = vec4<f32>(0.0);
  let KB = p.K >> 2u;
  var ia = 0u;
  var ib = 0u;
  for (var kb = 0u; kb < KB; kb++) {
    var x0 = mat4x4<f32>(A[a0 + ia], A[a1 + ia], A[a2 + ia], A[a3 + ia]);
    var x1 = mat4x4<f32>(A[a4 + ia], A[a5 + ia], A[a6 + ia], A[a7 + ia]);
    var y0 = mat4x4<f32>(B[b0 + ib], B[b1 + ib], B[b2 + ib], B[b3 + ib]);
    var y1 = mat4x4<f32>(B[b4 + ib], B[b5 + ib], B[b6 + ib], B[b7 + ib]);
    ia += aStep;
    ib += bStep;
    if (TRANS_A) { x0 = transpose(x0); x1 = transpose(x1); }
    if (TRANS_B) {
      // y0 = lines 0..3 = columns n0..n0+3 along k: transposed, rows k..k+3 along n.
      y0 = transpose(y0); y1 = transpose(y1);
    }
    c00 += y0 * x0[0]; c01 += y1 * x0[0];
    c10 += y0 * x0[1]; c11 += y1 * x0[1];
    c20 += y0 * x0[2]; c21 += y1 * x0[2];
    c30 += y0 * x0[3]; c31 += y1 * x0[3];
    c40 += y0 * x1[0]; c41 += y1 * x1[0];
    c50 += y0 * x1[1]; c51 += y1 * x1[1];
    c60 += y0 * x1[2]; c61 += y1 * x1[2];
    c70 += y0 * x1[3]; c71 += y1 * x1[3];
  }
  for (var k = KB * 4u; k < p.K; k++) {
    var av0: vec4<f32>; var av1: vec4<f32>; // op(A)[m0..m0+7, k]
    var bv0: vec4<f32>; var bv1: vec4<f32>; // op(B)[k, n0..n0+7]
    if (TRANS_A) {
      av0 = A[(baseA + la[0] + k * p.lda) >> 2u];
      av1 = A[(baseA + la[4] + k * p.lda) >> 2u];
    } else {
      av0 = vec4<f32>(elemA(baseA + la[0] + k), elemA(baseA + la[1] + k),
                      elemA(baseA + la[2] + k), elemA(baseA + la[3] + k));
      av1 = vec4<f32>(elemA(baseA + la[4] + k), elemA(baseA + la[5] + k),
                      elemA(baseA + la[6] + k), elemA(baseA + la[7] + k));
    }
    if (TRANS_B) {
      bv0 = vec4<f32>(elemB(baseB + lb[0] + k), elemB(baseB + lb[1] + k),
                      elemB(baseB + lb[2] + k), elemB(baseB + lb[3] + k));
      bv1 = vec4<f32>(elemB(baseB + lb[4] + k), elemB(baseB + lb[5] + k),
                      elemB(baseB + lb[6] + k), elemB(baseB + lb[7] + k));
    } else {
      bv0 = B[(baseB + lb[0] + k * p.ldb) >> 2u];
      bv1 = B[(baseB + lb[4] + k * p.ldb) >> 2u];
    }
    c00 += av0.x * bv0; c01 += av0.x * bv1;
    c10 += av0.y * bv0; c11 += av0.y * bv1;
    c20 += av0.z * bv0; c21 += av0.z * bv1;
    c30 += av0.w * bv0; c31 += av0.w * bv1;
    c40 += av1.x * bv0; c41 += av1.x * bv1;
    c50 += av1.y * bv0; c51 += av1.y * bv1;
    c60 += av1.z * bv0; c61 += av1.z * bv1;
    c70 += av1.w * bv0; c71 += av1.w * bv1;
  }

  storeRow(baseC, m0, n0, c00, c01);
  storeRow(baseC, m0 + 1u, n0, c10, c11);
  storeRow(baseC, m0 + 2u, n0, c20, c21);
  storeRow(baseC, m0 + 3u, n0, c30, c31);
  storeRow(baseC, m0 + 4u, n0, c40, c41);
  storeRow(baseC, m0 + 5u, n0, c50, c51);
  storeRow(baseC, m0 + 6u, n0, c60, c61);
  storeRow(baseC, m0 + 7u, n0, c70, c71);
}

// Kernel lab v2: vec4 loads, 4x4 register tile per invocation, fully unrolled by hand.
//
//   C[z] = alpha * op(A[z]) * op(B[z]) (+ bias[n]) (+ C[z] when ACCUM)      (as ops/matmul)
//
// A and B are bound as array<vec4<f32>>, so the host must guarantee: lda, ldb, offA, offB and the
// batch strides of A and B are multiples of 4. M, N, K are free. Each k-block of 4 reads four
// vec4 "lines" of A and four of B:
//   A stored [M,K]: line i = row m0+i, k..k+3     A stored [K,M] (TRANS_A): line r = row k+r, m0..m0+3
//   B stored [K,N]: line r = row k+r, n0..n0+3    B stored [N,K] (TRANS_B): line j = row n0+j, k..k+3
// and transposes where needed (free on SIMD-across-invocations backends such as SwiftShader).
// Rows past M/N are clamped (k-contiguous lines) or read from padding and never stored
// (m/n-contiguous lines). A K tail (K % 4 != 0) is done with scalar reads of the vec4 arrays.
// C is array<f32> with scalar stores (any ldc / offC).
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

fn storeRow(baseC: u32, m: u32, n0: u32, acc: vec4<f32>) {
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
  let n0 = gid.x * 4u;
  let m0 = gid.y * 4u;
  if (n0 >= p.N || m0 >= p.M) { return; }
  let z1 = gid.z / p.NB2;
  let z2 = gid.z % p.NB2;
  let baseA = p.offA + z1 * p.sA1 + z2 * p.sA2;
  let baseB = p.offB + z1 * p.sB1 + z2 * p.sB2;
  let baseC = p.offC + z1 * p.sC1 + z2 * p.sC2;

  // Element offsets of the four lines of A and B at k = 0, and their step per k-block (in vec4s).
  var a0: u32; var a1: u32; var a2: u32; var a3: u32; var aStep: u32;
  if (TRANS_A) {
    a0 = baseA + m0; a1 = a0 + p.lda; a2 = a1 + p.lda; a3 = a2 + p.lda; aStep = p.lda;
  } else {
    a0 = baseA + min(m0, p.M - 1u) * p.lda;
    a1 = baseA + min(m0 + 1u, p.M - 1u) * p.lda;
    a2 = baseA + min(m0 + 2u, p.M - 1u) * p.lda;
    a3 = baseA + min(m0 + 3u, p.M - 1u) * p.lda;
    aStep = 1u;
  }
  var b0: u32; var b1: u32; var b2: u32; var b3: u32; var bStep: u32;
  if (TRANS_B) {
    b0 = baseB + min(n0, p.N - 1u) * p.ldb;
    b1 = baseB + min(n0 + 1u, p.N - 1u) * p.ldb;
    b2 = baseB + min(n0 + 2u, p.N - 1u) * p.ldb;
    b3 = baseB + min(n0 + 3u, p.N - 1u) * p.ldb;
    bStep = 1u;
  } else {
    b0 = baseB + n0; b1 = b0 + p.ldb; b2 = b1 + p.ldb; b3 = b2 + p.ldb; bStep = p.ldb;
  }
  // Element offsets for the K tail, kept before switching to vec4 indices.
  let ta = vec4<u32>(a0, a1, a2, a3);
  let tb = vec4<u32>(b0, b1, b2, b3);
  a0 >>= 2u; a1 >>= 2u; a2 >>= 2u; a3 >>= 2u;
  b0 >>= 2u; b1 >>= 2u; b2 >>= 2u; b3 >>= 2u;

  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  let KB = p.K >> 2u;
  for (var kb = 0u; kb < KB; kb++) {
    var ma = mat4x4<f32>(A[a0], A[a1], A[a2], A[a3]);
    var mb = mat4x4<f32>(B[b0], B[b1], B[b2], B[b3]);
    a0 += aStep; a1 += aStep; a2 += aStep; a3 += aStep;
    b0 += bStep; b1 += bStep; b2 += bStep; b3 += bStep;
    if (TRANS_A) { ma = transpose(ma); } // ma[i] = row m0+i of op(A), k..k+3
    if (TRANS_B) { mb = transpose(mb); } // mb[r] = row k+r of op(B), n0..n0+3
    acc0 += ma[0].x * mb[0] + ma[0].y * mb[1] + ma[0].z * mb[2] + ma[0].w * mb[3];
    acc1 += ma[1].x * mb[0] + ma[1].y * mb[1] + ma[1].z * mb[2] + ma[1].w * mb[3];
    acc2 += ma[2].x * mb[0] + ma[2].y * mb[1] + ma[2].z * mb[2] + ma[2].w * mb[3];
    acc3 += ma[3].x * mb[0] + ma[3].y * mb[1] + ma[3].z * mb[2] + ma[3].w * mb[3];
  }
  for (var k = KB * 4u; k < p.K; k++) {
    var av: vec4<f32>; // op(A)[m0..m0+3, k]
    var bv: vec4<f32>; // op(B)[k, n0..n0+3]
    if (TRANS_A) {
      av = A[(ta.x + k * p.lda) >> 2u];
    } else {
      av = vec4<f32>(elemA(ta.x + k), elemA(ta.y + k), elemA(ta.z + k), elemA(ta.w + k));
    }
    if (TRANS_B) {
      bv = vec4<f32>(elemB(tb.x + k), elemB(tb.y + k), elemB(tb.z + k), elemB(tb.w + k));
    } else {
      bv = B[(tb.x + k * p.ldb) >> 2u];
    }
    acc0 += av.x * bv;
    acc1 += av.y * bv;
    acc2 += av.z * bv;
    acc3 += av.w * bv;
  }

  storeRow(baseC, m0, n0, acc0);
  storeRow(baseC, m0 + 1u, n0, acc1);
  storeRow(baseC, m0 + 2u, n0, acc2);
  storeRow(baseC, m0 + 3u, n0, acc3);
}

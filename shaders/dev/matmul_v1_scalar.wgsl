// Kernel lab v1 (baseline): a copy of shaders/ops/matmul.wgsl as it was at the start: 4x4 register tile,
// scalar loads from array<f32>, loops over small arrays. Same bindings and Params as ops/matmul.
//
//   C[z] = alpha * op(A[z]) * op(B[z]) (+ bias[n]) (+ C[z] when ACCUM)
//   op(A) is [M,K]: A stored [M,K] (row stride lda) or, with TRANS_A, stored [K,M].
//   op(B) is [K,N]: B stored [K,N] (row stride ldb) or, with TRANS_B, stored [N,K].
//   Batch z = z1 * NB2 + z2 addresses  off + z1 * s1 + z2 * s2  in each matrix, so per-head
//   slices of a [B,T,C] activation can be used in place (attention).
//
// Register tiling: each invocation computes a 4x4 block of C, reading 4-wide slices of A and B
// along K into registers (no workgroup memory: on CPU backends such as SwiftShader that is
// fastest). Rows/columns past M/N are clamped on load and skipped on store; a K tail that is
// not a multiple of 4 is done by a scalar loop.
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
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

fn idxA(base: u32, m: u32, k: u32) -> u32 {
  if (TRANS_A) { return base + k * p.lda + m; }
  return base + m * p.lda + k;
}
fn idxB(base: u32, k: u32, n: u32) -> u32 {
  if (TRANS_B) { return base + n * p.ldb + k; }
  return base + k * p.ldb + n;
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

  var mi: array<u32, 4>;
  var nj: array<u32, 4>;
  for (var i = 0u; i < 4u; i++) {
    mi[i] = min(m0 + i, p.M - 1u);
    nj[i] = min(n0 + i, p.N - 1u);
  }

  var acc: array<vec4<f32>, 4>;
  let K4 = p.K & ~3u;
  var k = 0u;
  for (; k < K4; k += 4u) {
    var a: array<vec4<f32>, 4>; // a[i] = A[mi, k..k+3]
    var b: array<vec4<f32>, 4>; // b[j] = B[k..k+3, nj]
    for (var i = 0u; i < 4u; i++) {
      a[i] = vec4<f32>(A[idxA(baseA, mi[i], k)], A[idxA(baseA, mi[i], k + 1u)],
                       A[idxA(baseA, mi[i], k + 2u)], A[idxA(baseA, mi[i], k + 3u)]);
      b[i] = vec4<f32>(B[idxB(baseB, k, nj[i])], B[idxB(baseB, k + 1u, nj[i])],
                       B[idxB(baseB, k + 2u, nj[i])], B[idxB(baseB, k + 3u, nj[i])]);
    }
    for (var i = 0u; i < 4u; i++) {
      acc[i] += vec4<f32>(dot(a[i], b[0]), dot(a[i], b[1]), dot(a[i], b[2]), dot(a[i], b[3]));
    }
  }
  for (; k < p.K; k++) {
    let bk = vec4<f32>(B[idxB(baseB, k, nj[0])], B[idxB(baseB, k, nj[1])],
                       B[idxB(baseB, k, nj[2])], B[idxB(baseB, k, nj[3])]);
    for (var i = 0u; i < 4u; i++) {
      acc[i] += A[idxA(baseA, mi[i], k)] * bk;
    }
  }

  for (var i = 0u; i < 4u; i++) {
    let m = m0 + i;
    if (m >= p.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + j;
      if (n >= p.N) { break; }
      var v = p.alpha * acc[i][j];
      if (HAS_BIAS) { v += bias[n]; }
      let ci = baseC + m * p.ldc + n;
      if (ACCUM) { v += C[ci]; }
      C[ci] = v;
    }
  }
}

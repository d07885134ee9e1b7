// Batched matmul, workgroup-memory tiled kernel for real GPUs (variant "tiled"): any strides,
// offsets and sizes.
//
//   C[z] = alpha * op(A[z]) * op(B[z]) (+ bias[n]) (+ C[z] when ACCUM)
//   op(A) is [M,K]: A stored [M,K] (row stride lda) or, with TRANS_A, stored [K,M].
//   op(B) is [K,N]: B stored [K,N] (row stride ldb) or, with TRANS_B, stored [N,K].
//   Batch z = z1 * NB2 + z2 addresses  off + z1 * s1 + z2 * s2  in each matrix (per-head slices).
// All matmul kernels share these bindings and Params; src/ops/matmul.ts picks one per call.
//
// A WG x WG workgroup (WG = WG_X = WG_Y = 16) owns a 64x64 tile of C; each invocation a 4x4 block
// of it in registers. K is walked in steps of BK = WG: the workgroup stages op(A)[64, BK] and
// op(B)[BK, 64] in workgroup memory, one vec4 (4 rows of A, or 4 columns of B) per invocation,
// reading global memory along whichever dimension is contiguous (coalesced) and zero-filling
// past M, N, K. Slow on SwiftShader (workgroup memory and barriers), fast on GPUs.
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ACCUM: bool = false;
override HAS_BIAS: bool = false;
override WG_X: u32 = 16u; // must equal WG_Y
override WG_Y: u32 = 16u;

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

// As[k * WG + i] = op(A)[m0 + 4i .. 4i+3, k0 + k];  Bs[k * WG + j] = op(B)[k0 + k, n0 + 4j .. 4j+3]
var<workgroup> As: array<vec4<f32>, WG_X * WG_Y>;
var<workgroup> Bs: array<vec4<f32>, WG_X * WG_Y>;

fn loadA(base: u32, m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) { return 0.0; }
  if (TRANS_A) { return A[base + k * p.lda + m]; }
  return A[base + m * p.lda + k];
}
fn loadB(base: u32, k: u32, n: u32) -> f32 {
  if (k >= p.K || n >= p.N) { return 0.0; }
  if (TRANS_B) { return B[base + n * p.ldb + k]; }
  return B[base + k * p.ldb + n];
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let WG = WG_X;
  let m0 = wid.y * 4u * WG;
  let n0 = wid.x * 4u * WG;
  let z1 = wid.z / p.NB2;
  let z2 = wid.z % p.NB2;
  let baseA = p.offA + z1 * p.sA1 + z2 * p.sA2;
  let baseB = p.offB + z1 * p.sB1 + z2 * p.sB2;
  let baseC = p.offC + z1 * p.sC1 + z2 * p.sC2;

  // Which (k, group of 4) this invocation stages: neighbours walk the contiguous dimension.
  var ka: u32; var ga: u32;
  if (TRANS_A) { ka = t / WG; ga = t % WG; } else { ka = t % WG; ga = t / WG; }
  var kb: u32; var gb: u32;
  if (TRANS_B) { kb = t % WG; gb = t / WG; } else { kb = t / WG; gb = t % WG; }

  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < p.K; k0 += WG) {
    let ma = m0 + 4u * ga;
    As[ka * WG + ga] = vec4<f32>(loadA(baseA, ma, k0 + ka), loadA(baseA, ma + 1u, k0 + ka),
                                 loadA(baseA, ma + 2u, k0 + ka), loadA(baseA, ma + 3u, k0 + ka));
    let nb = n0 + 4u * gb;
    Bs[kb * WG + gb] = vec4<f32>(loadB(baseB, k0 + kb, nb), loadB(baseB, k0 + kb, nb + 1u),
                                 loadB(baseB, k0 + kb, nb + 2u), loadB(baseB, k0 + kb, nb + 3u));
    workgroupBarrier();
    for (var k = 0u; k < WG; k++) {
      let a = As[k * WG + lid.y];
      let b = Bs[k * WG + lid.x];
      acc0 += a.x * b;
      acc1 += a.y * b;
      acc2 += a.z * b;
      acc3 += a.w * b;
    }
    workgroupBarrier();
  }

  let n = n0 + 4u * lid.x;
  let m = m0 + 4u * lid.y;
  store4(baseC, m, n, acc0);
  store4(baseC, m + 1u, n, acc1);
  store4(baseC, m + 2u, n, acc2);
  store4(baseC, m + 3u, n, acc3);
}

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

// Kernel lab v4: v3 written with loops over const-sized arrays (TM x TN tile), to see whether
// the compiler chain (Tint -> SPIR-V -> SwiftShader) unrolls them as well as the hand-unrolled v3.
// K must be a multiple of 4 here (no tail). Same bindings and alignment contract as v2/v3.
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


const TM: u32 = 8u;  // rows per invocation (multiple of 4)
const TN: u32 = 8u;  // columns per invocation (multiple of 4)
const RA: u32 = TM / 4u;
const RB: u32 = TN / 4u;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n0 = gid.x * TN;
  let m0 = gid.y * TM;
  if (n0 >= p.N || m0 >= p.M) { return; }
  let z1 = gid.z / p.NB2;
  let z2 = gid.z % p.NB2;
  let baseA = p.offA + z1 * p.sA1 + z2 * p.sA2;
  let baseB = p.offB + z1 * p.sB1 + z2 * p.sB2;
  let baseC = p.offC + z1 * p.sC1 + z2 * p.sC2;

  // vec4 indices of the lines of A and B (4 per 4x4 block).
  var la: array<array<u32, 4>, RA>;
  var lb: array<array<u32, 4>, RB>;
  for (var h = 0u; h < RA; h++) {
    for (var r = 0u; r < 4u; r++) {
      if (TRANS_A) { la[h][r] = (baseA + r * p.lda + m0 + 4u * h) >> 2u; }
      else { la[h][r] = (baseA + min(m0 + 4u * h + r, p.M - 1u) * p.lda) >> 2u; }
    }
  }
  for (var h = 0u; h < RB; h++) {
    for (var r = 0u; r < 4u; r++) {
      if (TRANS_B) { lb[h][r] = (baseB + min(n0 + 4u * h + r, p.N - 1u) * p.ldb) >> 2u; }
      else { lb[h][r] = (baseB + r * p.ldb + n0 + 4u * h) >> 2u; }
    }
  }
  let aStep = select(p.lda, 1u, !TRANS_A);
  let bStep = select(p.ldb, 1u, TRANS_B);

  var acc: array<array<vec4<f32>, RB>, TM>;
  let KB = p.K >> 2u;
  var ia = 0u;
  var ib = 0u;
  for (var kb = 0u; kb < KB; kb++) {
    var x: array<mat4x4<f32>, RA>;
    var y: array<mat4x4<f32>, RB>;
    for (var h = 0u; h < RA; h++) {
      x[h] = mat4x4<f32>(A[la[h][0] + ia], A[la[h][1] + ia], A[la[h][2] + ia], A[la[h][3] + ia]);
      if (TRANS_A) { x[h] = transpose(x[h]); }
    }
    for (var h = 0u; h < RB; h++) {
      y[h] = mat4x4<f32>(B[lb[h][0] + ib], B[lb[h][1] + ib], B[lb[h][2] + ib], B[lb[h][3] + ib]);
      if (TRANS_B) { y[h] = transpose(y[h]); }
    }
    ia += aStep;
    ib += bStep;
    for (var i = 0u; i < TM; i++) {
      for (var h = 0u; h < RB; h++) {
        acc[i][h] += y[h] * x[i / 4u][i % 4u];
      }
    }
  }
  // (no K tail in this lab variant: K % 4 == 0 only)
  for (var i = 0u; i < TM; i++) {
    let m = m0 + i;
    if (m >= p.M) { break; }
    for (var j = 0u; j < TN; j++) {
      let n = n0 + j;
      if (n >= p.N) { break; }
      var v = p.alpha * acc[i][j / 4u][j % 4u];
      if (HAS_BIAS) { v += bias[n]; }
      let ci = baseC + m * p.ldc + n;
      if (ACCUM) { v += C[ci]; }
      C[ci] = v;
    }
  }
}

// Kernel lab v6_quad_8x16: v5 plus sharing of loads inside a quad (subgroups feature).
// The 4 invocations of a quad own a 2x2 block of 8x16 tiles: lanes q&1 = 0/1 are
// neighbours along N, q>>1 = 0/1 neighbours along M. Lanes with the same M tile need the same
// rows of A: each loads half of them and gets the other half with quadSwapX; likewise B with
// quadSwapY. Half the loads (gathers on SwiftShader) of v5 for the same work.
// Each lane keeps its own half first: acc rows 0..3 are rows m0 + 4*qx + i (the rows it
// loaded), rows 4..7 the partner's; same for columns.
// Assumes quads are 4 consecutive local invocations (true on SwiftShader and the usual GPUs).
// Same bindings and alignment contract as v2/v3.
enable subgroups;

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ACCUM: bool = false;
override HAS_BIAS: bool = false;
override WG_X: u32 = 4u; // tiles per workgroup along N (even)
override WG_Y: u32 = 4u; // tiles per workgroup along M (even)

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
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lii: u32,
        @builtin(subgroup_invocation_id) sgi: u32) {
  let q = sgi & 3u;
  let qx = q & 1u;
  let qy = q >> 1u;
  let quad = lii >> 2u;
  let qpr = WG_X / 2u; // quads per row of the workgroup's tile grid
  let nt = wid.x * WG_X + 2u * (quad % qpr) + qx;
  let mt = wid.y * WG_Y + 2u * (quad / qpr) + qy;
  let n0 = nt * 16u;
  let m0 = mt * 8u;
  // No early return: quad operations need all four lanes. Tiles past the edge are clamped on
  // load and not stored.
  let z1 = wid.z / p.NB2;
  let z2 = wid.z % p.NB2;
  let baseA = p.offA + z1 * p.sA1 + z2 * p.sA2;
  let baseB = p.offB + z1 * p.sB1 + z2 * p.sB2;
  let baseC = p.offC + z1 * p.sC1 + z2 * p.sC2;
  let aStep = select(p.lda, 1u, !TRANS_A);
  let bStep = select(p.ldb, 1u, TRANS_B);
  let mh = m0 + 4u * qx; // first row of my half, other half at mo
  let mo = m0 + 4u * (1u - qx);
  let nh = n0 + 8u * qy;
  let no = n0 + 8u * (1u - qy);
  let ea00 = baseA + select(min(mh + 0u, p.M - 1u) * p.lda, 0u * p.lda + mh + 0u, TRANS_A);
  let ea01 = baseA + select(min(mh + 1u, p.M - 1u) * p.lda, 1u * p.lda + mh + 0u, TRANS_A);
  let ea02 = baseA + select(min(mh + 2u, p.M - 1u) * p.lda, 2u * p.lda + mh + 0u, TRANS_A);
  let ea03 = baseA + select(min(mh + 3u, p.M - 1u) * p.lda, 3u * p.lda + mh + 0u, TRANS_A);
  let eb00 = baseB + select(0u * p.ldb + nh + 0u, min(nh + 0u, p.N - 1u) * p.ldb, TRANS_B);
  let eb01 = baseB + select(1u * p.ldb + nh + 0u, min(nh + 1u, p.N - 1u) * p.ldb, TRANS_B);
  let eb02 = baseB + select(2u * p.ldb + nh + 0u, min(nh + 2u, p.N - 1u) * p.ldb, TRANS_B);
  let eb03 = baseB + select(3u * p.ldb + nh + 0u, min(nh + 3u, p.N - 1u) * p.ldb, TRANS_B);
  let eb10 = baseB + select(0u * p.ldb + nh + 4u, min(nh + 4u, p.N - 1u) * p.ldb, TRANS_B);
  let eb11 = baseB + select(1u * p.ldb + nh + 4u, min(nh + 5u, p.N - 1u) * p.ldb, TRANS_B);
  let eb12 = baseB + select(2u * p.ldb + nh + 4u, min(nh + 6u, p.N - 1u) * p.ldb, TRANS_B);
  let eb13 = baseB + select(3u * p.ldb + nh + 4u, min(nh + 7u, p.N - 1u) * p.ldb, TRANS_B);
  let a00 = ea00 >> 2u; let a01 = ea01 >> 2u; let a02 = ea02 >> 2u; let a03 = ea03 >> 2u;
  let b00 = eb00 >> 2u; let b01 = eb01 >> 2u; let b02 = eb02 >> 2u; let b03 = eb03 >> 2u;
  let b10 = eb10 >> 2u; let b11 = eb11 >> 2u; let b12 = eb12 >> 2u; let b13 = eb13 >> 2u;
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
  for (var kb = 0u; kb < KB; kb++) {
    var x0 = mat4x4<f32>(A[a00 + ia], A[a01 + ia], A[a02 + ia], A[a03 + ia]);
    var y0 = mat4x4<f32>(B[b00 + ib], B[b01 + ib], B[b02 + ib], B[b03 + ib]);
    var y1 = mat4x4<f32>(B[b10 + ib], B[b11 + ib], B[b12 + ib], B[b13 + ib]);
    ia += aStep;
    ib += bStep;
    if (TRANS_A) { x0 = transpose(x0); }
    if (TRANS_B) { y0 = transpose(y0); y1 = transpose(y1); }
    let x1 = mat4x4<f32>(quadSwapX(x0[0]), quadSwapX(x0[1]), quadSwapX(x0[2]), quadSwapX(x0[3]));
    let y2 = mat4x4<f32>(quadSwapY(y0[0]), quadSwapY(y0[1]), quadSwapY(y0[2]), quadSwapY(y0[3]));
    let y3 = mat4x4<f32>(quadSwapY(y1[0]), quadSwapY(y1[1]), quadSwapY(y1[2]), quadSwapY(y1[3]));
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
    // op(A)[rows, k] and op(B)[k, cols] for my rows/cols in accumulator order.
    var av0: vec4<f32>;
    if (TRANS_A) { av0 = A[(baseA + k * p.lda + mh + 0u) >> 2u]; }
    else { av0 = vec4<f32>(elemA(baseA + min(mh + 0u, p.M - 1u) * p.lda + k), elemA(baseA + min(mh + 1u, p.M - 1u) * p.lda + k), elemA(baseA + min(mh + 2u, p.M - 1u) * p.lda + k), elemA(baseA + min(mh + 3u, p.M - 1u) * p.lda + k)); }
    var av1: vec4<f32>;
    if (TRANS_A) { av1 = A[(baseA + k * p.lda + mo + 0u) >> 2u]; }
    else { av1 = vec4<f32>(elemA(baseA + min(mo + 0u, p.M - 1u) * p.lda + k), elemA(baseA + min(mo + 1u, p.M - 1u) * p.lda + k), elemA(baseA + min(mo + 2u, p.M - 1u) * p.lda + k), elemA(baseA + min(mo + 3u, p.M - 1u) * p.lda + k)); }
    var bv0: vec4<f32>;
    if (TRANS_B) { bv0 = vec4<f32>(elemB(baseB + min(nh + 0u, p.N - 1u) * p.ldb + k), elemB(baseB + min(nh + 1u, p.N - 1u) * p.ldb + k), elemB(baseB + min(nh + 2u, p.N - 1u) * p.ldb + k), elemB(baseB + min(nh + 3u, p.N - 1u) * p.ldb + k)); }
    else { bv0 = B[(baseB + k * p.ldb + nh + 0u) >> 2u]; }
    var bv1: vec4<f32>;
    if (TRANS_B) { bv1 = vec4<f32>(elemB(baseB + min(nh + 4u, p.N - 1u) * p.ldb + k), elemB(baseB + min(nh + 5u, p.N - 1u) * p.ldb + k), elemB(baseB + min(nh + 6u, p.N - 1u) * p.ldb + k), elemB(baseB + min(nh + 7u, p.N - 1u) * p.ldb + k)); }
    else { bv1 = B[(baseB + k * p.ldb + nh + 4u) >> 2u]; }
    var bv2: vec4<f32>;
    if (TRANS_B) { bv2 = vec4<f32>(elemB(baseB + min(no + 0u, p.N - 1u) * p.ldb + k), elemB(baseB + min(no + 1u, p.N - 1u) * p.ldb + k), elemB(baseB + min(no + 2u, p.N - 1u) * p.ldb + k), elemB(baseB + min(no + 3u, p.N - 1u) * p.ldb + k)); }
    else { bv2 = B[(baseB + k * p.ldb + no + 0u) >> 2u]; }
    var bv3: vec4<f32>;
    if (TRANS_B) { bv3 = vec4<f32>(elemB(baseB + min(no + 4u, p.N - 1u) * p.ldb + k), elemB(baseB + min(no + 5u, p.N - 1u) * p.ldb + k), elemB(baseB + min(no + 6u, p.N - 1u) * p.ldb + k), elemB(baseB + min(no + 7u, p.N - 1u) * p.ldb + k)); }
    else { bv3 = B[(baseB + k * p.ldb + no + 4u) >> 2u]; }
    c0_0 += av0[0] * bv0; c0_1 += av0[0] * bv1; c0_2 += av0[0] * bv2; c0_3 += av0[0] * bv3;
    c1_0 += av0[1] * bv0; c1_1 += av0[1] * bv1; c1_2 += av0[1] * bv2; c1_3 += av0[1] * bv3;
    c2_0 += av0[2] * bv0; c2_1 += av0[2] * bv1; c2_2 += av0[2] * bv2; c2_3 += av0[2] * bv3;
    c3_0 += av0[3] * bv0; c3_1 += av0[3] * bv1; c3_2 += av0[3] * bv2; c3_3 += av0[3] * bv3;
    c4_0 += av1[0] * bv0; c4_1 += av1[0] * bv1; c4_2 += av1[0] * bv2; c4_3 += av1[0] * bv3;
    c5_0 += av1[1] * bv0; c5_1 += av1[1] * bv1; c5_2 += av1[1] * bv2; c5_3 += av1[1] * bv3;
    c6_0 += av1[2] * bv0; c6_1 += av1[2] * bv1; c6_2 += av1[2] * bv2; c6_3 += av1[2] * bv3;
    c7_0 += av1[3] * bv0; c7_1 += av1[3] * bv1; c7_2 += av1[3] * bv2; c7_3 += av1[3] * bv3;
  }
  store4(baseC, mh + 0u, nh + 0u, c0_0); store4(baseC, mh + 0u, nh + 4u, c0_1); store4(baseC, mh + 0u, no + 0u, c0_2); store4(baseC, mh + 0u, no + 4u, c0_3);
  store4(baseC, mh + 1u, nh + 0u, c1_0); store4(baseC, mh + 1u, nh + 4u, c1_1); store4(baseC, mh + 1u, no + 0u, c1_2); store4(baseC, mh + 1u, no + 4u, c1_3);
  store4(baseC, mh + 2u, nh + 0u, c2_0); store4(baseC, mh + 2u, nh + 4u, c2_1); store4(baseC, mh + 2u, no + 0u, c2_2); store4(baseC, mh + 2u, no + 4u, c2_3);
  store4(baseC, mh + 3u, nh + 0u, c3_0); store4(baseC, mh + 3u, nh + 4u, c3_1); store4(baseC, mh + 3u, no + 0u, c3_2); store4(baseC, mh + 3u, no + 4u, c3_3);
  store4(baseC, mo + 0u, nh + 0u, c4_0); store4(baseC, mo + 0u, nh + 4u, c4_1); store4(baseC, mo + 0u, no + 0u, c4_2); store4(baseC, mo + 0u, no + 4u, c4_3);
  store4(baseC, mo + 1u, nh + 0u, c5_0); store4(baseC, mo + 1u, nh + 4u, c5_1); store4(baseC, mo + 1u, no + 0u, c5_2); store4(baseC, mo + 1u, no + 4u, c5_3);
  store4(baseC, mo + 2u, nh + 0u, c6_0); store4(baseC, mo + 2u, nh + 4u, c6_1); store4(baseC, mo + 2u, no + 0u, c6_2); store4(baseC, mo + 2u, no + 4u, c6_3);
  store4(baseC, mo + 3u, nh + 0u, c7_0); store4(baseC, mo + 3u, nh + 4u, c7_1); store4(baseC, mo + 3u, no + 0u, c7_2); store4(baseC, mo + 3u, no + 4u, c7_3);
}

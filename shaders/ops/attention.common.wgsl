// Shared by the fused ("flash") attention kernels ops/attention.fwd, ops/attention.bwd_dq and
// ops/attention.bwd_dkdv (pulled in with //#include "ops/attention.common.wgsl"; the math is in
// src/ops/attention.ts, the layout in src/ops/attention-layout.ts, the host code in
// src/ops/attention-flash.ts):
//   qkv [B*T, ld] packed: q, k, v of head h, token row r = b*T + t at elements
//       r*ld + off{Q,K,V} + h*Dh + [0, Dh); out, dout [B*T, C]; lse, D [B*H*T] at (b*H+h)*T + t;
//   cos, sin [P, Dh]: RoPE tables, row t - prefix for tokens t >= prefix (DINOv3); without RoPE
//       (DINOv2) the caller passes prefix = T, so no row is rotated and the tables are not read
//       (one pipeline for both: SwiftShader, where the tests run, compiles each slowly).
// Every kernel binds qkv, cos, sin at 0, 1, 2 (declared here), its own buffers after them and
// its Params last. A head row (Dh values) lives in a private array of vec4 chunks, DH4 = Dh/4
// of them used (an override, so on GPUs every loop over chunks is constant-bounded and the
// arrays stay in registers), at most DH4_MAX (Dh <= 128).
// RoPE (half-split pairs (d, d + Dh/2), i.e. chunk pairs (c, c + DH4/2); needs Dh % 8 == 0):
//   forward   x'[c]      = x[c] cos[c] - x[c+H8] sin[c]     x'[c+H8] = x[c+H8] cos[c+H8] + x[c] sin[c+H8]
//   backward  dx[c]      = dy[c] cos[c] + dy[c+H8] sin[c+H8]  dx[c+H8] = dy[c+H8] cos[c+H8] - dy[c] sin[c]
// Storage access: every element of qkv is read through ldQKV (and each kernel reads and writes
// its other activations through ld*/st* helpers of its own), so the storage type can change in
// one place.

struct Params {
  B: u32, T: u32, H: u32, Dh: u32,
  C: u32, ld: u32, offQ: u32, offK: u32,
  offV: u32, prefix: u32, scale: f32,
};

override DH4: u32 = 16u;
override WG: u32 = 64u; // rows (= invocations) per workgroup: query rows (fwd, dq), key rows (dkdv)
override BC: u32 = 32u; // rows per staged tile: keys (fwd, dq), queries (dkdv); at most BC_MAX

const DH4_MAX: u32 = 32u;
const BC_MAX: u32 = 64u;
const LOWEST: f32 = -3.4028234e38;

alias Row = array<vec4<f32>, DH4_MAX>;

//#if F16_QKV
@group(0) @binding(0) var<storage, read> qkv: array<vec2<u32>>; // packed f16 (src/gpu/f16.ts)
//#else
@group(0) @binding(0) var<storage, read> qkv: array<vec4<f32>>;
//#endif
@group(0) @binding(1) var<storage, read> cosT: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> sinT: array<vec4<f32>>;

// Key tiles of the fwd and dq kernels: K (rotated) and V rows j0 .. j0+BC-1 of one head.
var<workgroup> Ks: array<vec4<f32>, BC * DH4>;
var<workgroup> Vs: array<vec4<f32>, BC * DH4>;

// The 4 values of qkv at element e (a multiple of 4).
//#if F16_QKV
fn ldQKV(e: u32) -> vec4<f32> { let w = qkv[e >> 2u]; return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)); }
//#else
fn ldQKV(e: u32) -> vec4<f32> { return qkv[e >> 2u]; }
//#endif

// Chunk c of the head row at element e0 of qkv, token t, rotated when t >= prefix.
fn loadChunk(e0: u32, c: u32, t: u32, prefix: u32) -> vec4<f32> {
  let x = ldQKV(e0 + 4u * c);
  if (t < prefix) { return x; }
  let H8 = DH4 / 2u;
  let tc = (t - prefix) * DH4 + c;
  if (c < H8) { return x * cosT[tc] - ldQKV(e0 + 4u * (c + H8)) * sinT[tc]; }
  return x * cosT[tc] + ldQKV(e0 + 4u * (c - H8)) * sinT[tc];
}

// The head row at element e0 of qkv, token t, times `scale`, rotated when t >= prefix.
fn loadRow(e0: u32, t: u32, prefix: u32, scale: f32) -> Row {
  var x: Row;
  for (var c = 0u; c < DH4; c++) { x[c] = scale * ldQKV(e0 + 4u * c); }
  if (t >= prefix) {
    let H8 = DH4 / 2u;
    let tb = (t - prefix) * DH4;
    for (var c = 0u; c < H8; c++) {
      let a = x[c];
      let b = x[c + H8];
      x[c] = a * cosT[tb + c] - b * sinT[tb + c];
      x[c + H8] = b * cosT[tb + c + H8] + a * sinT[tb + c + H8];
    }
  }
  return x;
}

// The RoPE backward R^T of a gradient row of token t (identity for the prefix tokens).
fn ropeBackward(g: Row, t: u32, prefix: u32) -> Row {
  var x = g;
  if (t >= prefix) {
    let H8 = DH4 / 2u;
    let tb = (t - prefix) * DH4;
    for (var c = 0u; c < H8; c++) {
      let a = g[c];
      let b = g[c + H8];
      x[c] = a * cosT[tb + c] + b * sinT[tb + c + H8];
      x[c + H8] = b * cosT[tb + c + H8] - a * sinT[tb + c];
    }
  }
  return x;
}

// Stages keys j0 .. j0+BC-1 of head h of image b into Ks (rotated) and Vs, zeros past T; every
// invocation (lid) of the workgroup takes part. Barriers are the caller's.
fn stageKV(lid: u32, j0: u32, b: u32, h: u32, pa: Params) {
  for (var e = lid; e < BC * DH4; e += WG) {
    let key = j0 + e / DH4;
    let c = e % DH4;
    var kc = vec4<f32>(0.0);
    var vc = vec4<f32>(0.0);
    if (key < pa.T) {
      let r = (b * pa.T + key) * pa.ld + h * pa.Dh;
      kc = loadChunk(r + pa.offK, c, key, pa.prefix);
      vc = ldQKV(r + pa.offV + 4u * c);
    }
    Ks[e] = kc;
    Vs[e] = vc;
  }
}

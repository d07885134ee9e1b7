/**
 * attention: multi-head softmax attention without a mask (DINOv3 / DINOv2; docs/model.md#attention), on the
 * packed qkv buffer of the fused QKV GEMM, with DINOv3's 2-D RoPE applied to q and k on load.
 *   qkv  [B*T, ld]: q, k, v are the column blocks [offQ, offQ+C), [offK, ..), [offV, ..) (C = H*Dh;
 *        defaults ld = 3C, offsets 0, C, 2C); head h owns columns h*Dh .. h*Dh+Dh-1 of each.
 *   rope: tables cos, sin [P, Dh] from `ropeTables` (./rope); rows t >= prefix of each image use
 *        table row t - prefix (prefix = 1 CLS + registers); null: no RoPE (DINOv2).
 *   out  [B*T, C]: heads concatenated (torch layout); out_i = sum_j P_ij v_j,
 *        P_ij = softmax_j(s_ij), s_ij = scale q_i . k_j, scale = Dh^-0.5.
 *   lse  [B*H*T] at (b*H + h)*T + i: log sum_j exp(s_ij), saved for the backward.
 * Backward: writes (overwrites) the q, k, v blocks of dqkv [B*T, ld] (other columns untouched):
 *   P_ij = exp(s_ij - lse_i) (recomputed: nothing T x T is kept between forward and backward),
 *   D_i = dO_i . O_i, dS_ij = P_ij (dO_i . v_j - D_i),
 *   dq_i = R^T scale sum_j dS_ij k_j, dk_j = R^T scale sum_i dS_ij q_i, dv_j = sum_i P_ij dO_i
 *   (R^T: the RoPE backward, so dq and dk are gradients w.r.t. the un-rotated q and k).
 * dqkv must be a different buffer from qkv, out, dout and lse.
 *
 * Variants (`gpu.variants.get('attention')`; default 'matmul' on software adapters, else 'flash'):
 *   'flash'   fused (shaders/ops/attention.fwd, .bwd_dq, .bwd_dkdv): the scores stay in
 *             registers, online softmax, K/V (or Q/dO) tiles staged in workgroup memory, vec4
 *             loads; forward 1 dispatch, backward 2 (dq and D, then dk and dv). Needs Dh % 4 == 0
 *             (% 8 with RoPE), Dh <= 128, 4-aligned ld and offsets; else 'matmul' runs instead.
 *   'matmul'  strided batched matmuls (./matmul) and row kernels without workgroup memory, for
 *             CPU adapters (SwiftShader), where workgroup memory and barriers are slow:
 *             forward  [rope copy] S = scale Q K^T, P = softmax(S) with lse, O = P V;
 *             backward [rope copy] S, dP = dO V^T, P and dS (one row kernel), dV = P^T dO,
 *                      dQ = scale dS K, dK = scale dS^T Q, [RoPE backward into dqkv].
 *             S, P, dP, dS live in scratch buffers shared by every layer and call (./support
 *             `scratch`, B*H*T*T floats each), the rotated q, k and their gradients in
 *             [B*T, 2C] scratches; nothing per layer.
 * On SwiftShader (tools/attention-lab.ts, CPU time, ViT-S/B at B = 8): 'matmul' runs the forward
 * at the cost of the unfused path and the backward at ~1.2x (it recomputes S = Q K^T); 'flash'
 * is ~4x slower than 'matmul' there, and a fused kernel without workgroup memory ~10x
 * (shaders/dev/attention_fwd_v1_rows.wgsl).
 *
 * The previous, unfused op (separate q, k, v [B,T,C], P [B,H,T,T] saved per layer, RoPE as
 * separate passes) stays as `attentionForwardSavedP` / `attentionBackwardSavedP`: the benchmark
 * (bench/ops/attention.bench.ts) times it as the peer of the fused op.
 */
import { cdiv, packParams, type Gpu } from '../gpu/device';
import { isF16 } from '../gpu/f16';
import { dummyBuffer, matmul } from './matmul';
import { softmaxBackward, softmaxForward } from './softmax';
import { grid, scratch } from './support';

export interface AttentionShape {
  B: number;
  T: number;
  H: number;
  /** Head dim; C = H * Dh. */
  Dh: number;
  /** q, k, v are column blocks of one packed buffer qkv [B*T, ld] (the fused QKV GEMM output):
   * q at columns [offQ, offQ + C), k at [offK, ...), v at [offV, ...); defaults ld = 3C, 0, C, 2C. */
  ld?: number;
  offQ?: number;
  offK?: number;
  offV?: number;
  /** DINOv3 2-D RoPE applied to q and k on load (tables from ropeTables(Hp, Wp, Dh, theta), [P, Dh]);
   * rows n >= prefix of each image use table row n - prefix; null = no RoPE (DINOv2). */
  rope: { cos: GPUBuffer; sin: GPUBuffer; prefix: number } | null;
}

export type AttentionVariant = 'flash' | 'matmul';

/** Elements of the `lse` buffer: B * H * T. */
export function attentionLseSize(B: number, T: number, H: number): number {
  return B * H * T;
}

/** AttentionShape with the defaults filled in and checked. */
interface Layout {
  B: number;
  T: number;
  H: number;
  Dh: number;
  C: number;
  ld: number;
  offQ: number;
  offK: number;
  offV: number;
  scale: number;
  rope: AttentionShape['rope'];
}

const F32 = 4;

function checkSize(op: string, what: string, buf: GPUBuffer, floats: number, shape: string): void {
  const bytes = floats * (isF16(buf) ? 2 : F32); // packed f16 (src/gpu/f16.ts): 2 bytes each
  if (buf.size < bytes) {
    throw new Error(`${op}: ${what} has ${buf.size} bytes, needs ${shape} = ${bytes}`);
  }
}

/** Checks a shape and fills in the defaults. */
function layoutOf(op: string, s: AttentionShape): Layout {
  for (const k of ['B', 'T', 'H', 'Dh'] as const) {
    if (!Number.isInteger(s[k]) || s[k] <= 0) throw new Error(`${op}: ${k} = ${s[k]} must be a positive integer`);
  }
  const { B, T, H, Dh } = s;
  const C = H * Dh;
  const l: Layout = {
    B,
    T,
    H,
    Dh,
    C,
    ld: s.ld ?? 3 * C,
    offQ: s.offQ ?? 0,
    offK: s.offK ?? C,
    offV: s.offV ?? 2 * C,
    scale: 1 / Math.sqrt(Dh),
    rope: s.rope,
  };
  const blocks = (['offQ', 'offK', 'offV'] as const).map((k) => ({ k, at: l[k] })).sort((a, b) => a.at - b.at);
  for (const [i, { k, at }] of blocks.entries()) {
    if (!Number.isInteger(at) || at < 0 || at + C > l.ld) {
      throw new Error(
        `${op}: ${k} = ${at}: the block [${k}, ${k} + C = ${C}) must lie in the row of ld = ${l.ld} columns`,
      );
    }
    if (i > 0 && blocks[i - 1].at + C > at) {
      throw new Error(
        `${op}: the q, k, v blocks overlap (${blocks[i - 1].k} = ${blocks[i - 1].at}, ${k} = ${at}, C = ${C})`,
      );
    }
  }
  if (s.rope) {
    const { prefix } = s.rope;
    if (Dh % 4 !== 0) throw new Error(`${op}: RoPE needs a head dim Dh divisible by 4, got ${Dh}`);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > T) {
      throw new Error(`${op}: RoPE prefix ${prefix} must be an integer in [0, T = ${T}]`);
    }
  }
  return l;
}

/** Checks buffer sizes: `packed` ones hold [B*T, ld], `rows` ones [B*T, C]; lse [B*H*T]; tables. */
function checkBuffers(
  op: string,
  l: Layout,
  packed: [string, GPUBuffer][],
  rows: [string, GPUBuffer][],
  lse: GPUBuffer,
): void {
  const { B, T, H, C } = l;
  for (const [what, b] of packed) checkSize(op, what, b, B * T * l.ld, `[B*T=${B * T}, ld=${l.ld}]`);
  for (const [what, b] of rows) checkSize(op, what, b, B * T * C, `[B*T=${B * T}, C=${C}]`);
  checkSize(op, 'lse', lse, B * H * T, `[B*H*T=${B * H * T}]`);
  if (l.rope) {
    const P = T - l.rope.prefix;
    checkSize(op, 'RoPE cos table', l.rope.cos, P * l.Dh, `[P=${P}, Dh=${l.Dh}]`);
    checkSize(op, 'RoPE sin table', l.rope.sin, P * l.Dh, `[P=${P}, Dh=${l.Dh}]`);
  }
}

function describe(l: Layout, variant: AttentionVariant): string {
  const rope = l.rope ? ` rope prefix=${l.rope.prefix}` : '';
  return `qkv[${l.B * l.T},${l.ld}] q@${l.offQ} k@${l.offK} v@${l.offV} B=${l.B} T=${l.T} H=${l.H} Dh=${l.Dh}${rope} (${variant})`;
}

// ---------------------------------------------------------------- variant choice

/** Largest head dim the flash kernels hold in registers (DH4_MAX in attention.common.wgsl). */
const FLASH_MAX_DH = 128;
/** Invocations (= query or key rows) per flash workgroup. */
const FLASH_WG = 64;

/**
 * Keys (queries) per staged tile of the flash kernels: the largest of 64, 32, 16, 8 whose tiles
 * (two [BC, Dh] f32 tiles plus two [BC] rows) fit the device's workgroup storage; null when the
 * flash kernels cannot run this shape (then 'matmul' runs). On software adapters, where 'flash'
 * runs only when asked for (tests), 8: SwiftShader's pipeline compile time grows with the
 * workgroup arrays (measured: ~6 s of CPU per kernel for 32 x 64 tiles, ~1 s for 4 x 64).
 */
function flashTile(gpu: Gpu, l: Layout): number | null {
  const aligned = [l.Dh, l.ld, l.offQ, l.offK, l.offV].every((x) => x % 4 === 0);
  if (!aligned || l.Dh > FLASH_MAX_DH || (l.rope && l.Dh % 8 !== 0)) return null;
  const limit = gpu.device.limits.maxComputeWorkgroupStorageSize;
  for (const bc of gpu.report.isFallback ? [8] : [64, 32, 16, 8]) {
    if ((2 * bc * l.Dh + 2 * bc) * F32 <= limit) return bc;
  }
  return null;
}

/** The preferred variant: `gpu.variants.get('attention')`, else by adapter kind. */
export function defaultAttentionVariant(gpu: Gpu): AttentionVariant {
  const v = gpu.variants.get('attention') ?? (gpu.report.isFallback ? 'matmul' : 'flash');
  if (v !== 'flash' && v !== 'matmul') {
    throw new Error(`attention: unknown variant "${v}" (expected 'flash' or 'matmul')`);
  }
  return v;
}

/** The variant that runs `shape`: the preferred one, or 'matmul' where 'flash' cannot. */
export function attentionVariant(gpu: Gpu, shape: AttentionShape): AttentionVariant {
  return pick(gpu, layoutOf('attention', shape)).variant;
}

function pick(gpu: Gpu, l: Layout): { variant: AttentionVariant; bc: number } {
  const bc = defaultAttentionVariant(gpu) === 'flash' ? flashTile(gpu, l) : null;
  return bc === null ? { variant: 'matmul', bc: 0 } : { variant: 'flash', bc };
}

// ---------------------------------------------------------------- public API

/** out [B*T, C] and lse [B*H*T] from the packed qkv [B*T, ld] (see the file comment). */
export function attentionForward(
  gpu: Gpu,
  out: GPUBuffer,
  lse: GPUBuffer,
  qkv: GPUBuffer,
  shape: AttentionShape,
): void {
  const op = 'attention.fwd';
  const l = layoutOf(op, shape);
  checkBuffers(op, l, [['qkv', qkv]], [['out', out]], lse);
  const { variant, bc } = pick(gpu, l);
  if (variant === 'flash') flashForward(gpu, out, lse, qkv, l, bc);
  else matmulForward(gpu, out, lse, qkv, l);
}

/**
 * Writes dqkv [B*T, ld] (its q, k, v blocks) from dout [B*T, C], the forward's out and lse, and
 * qkv (see the file comment).
 */
export function attentionBackward(
  gpu: Gpu,
  dqkv: GPUBuffer,
  dout: GPUBuffer,
  out: GPUBuffer,
  lse: GPUBuffer,
  qkv: GPUBuffer,
  shape: AttentionShape,
): void {
  const op = 'attention.bwd';
  const l = layoutOf(op, shape);
  checkBuffers(
    op,
    l,
    [
      ['qkv', qkv],
      ['dqkv', dqkv],
    ],
    [
      ['out', out],
      ['dout', dout],
    ],
    lse,
  );
  const { variant, bc } = pick(gpu, l);
  if (variant === 'flash') flashBackward(gpu, dqkv, dout, out, lse, qkv, l, bc);
  else matmulBackward(gpu, dqkv, dout, out, lse, qkv, l);
}

// ---------------------------------------------------------------- flash

function flashParams(l: Layout): Uint32Array {
  return packParams(
    // Without RoPE prefix = T: no row is rotated (one pipeline for both cases).
    [l.B, l.T, l.H, l.Dh, l.C, l.ld, l.offQ, l.offK, l.offV, l.rope?.prefix ?? l.T],
    [l.scale],
  );
}

function flashCommon(gpu: Gpu, l: Layout, bc: number) {
  return {
    constants: { WG: FLASH_WG, BC: bc, DH4: l.Dh / 4 },
    tables: [l.rope?.cos ?? dummyBuffer(gpu), l.rope?.sin ?? dummyBuffer(gpu)],
    params: flashParams(l),
    workgroups: [cdiv(l.T, FLASH_WG), l.B * l.H] as [number, number],
  };
}

function flashForward(gpu: Gpu, out: GPUBuffer, lse: GPUBuffer, qkv: GPUBuffer, l: Layout, bc: number): void {
  const f = flashCommon(gpu, l, bc);
  gpu.dispatch({
    op: 'attention.fwd',
    shapes: describe(l, 'flash'),
    shader: 'ops/attention.fwd',
    defines: { F16_QKV: isF16(qkv), F16_OUT: isF16(out) },
    constants: f.constants,
    buffers: [qkv, ...f.tables, out, lse],
    params: f.params,
    workgroups: f.workgroups,
  });
}

function flashBackward(
  gpu: Gpu,
  dqkv: GPUBuffer,
  dout: GPUBuffer,
  out: GPUBuffer,
  lse: GPUBuffer,
  qkv: GPUBuffer,
  l: Layout,
  bc: number,
): void {
  const f = flashCommon(gpu, l, bc);
  const D = scratch(gpu, 'attention.D', l.B * l.H * l.T);
  const shapes = describe(l, 'flash');
  gpu.dispatch({
    op: 'attention.bwd.dq',
    shapes,
    shader: 'ops/attention.bwd_dq',
    defines: { F16_QKV: isF16(qkv), F16_OUT: isF16(out) },
    constants: f.constants,
    buffers: [qkv, ...f.tables, dout, out, lse, dqkv, D],
    params: f.params,
    workgroups: f.workgroups,
  });
  gpu.dispatch({
    op: 'attention.bwd.dkdv',
    shapes,
    shader: 'ops/attention.bwd_dkdv',
    defines: { F16_QKV: isF16(qkv) },
    constants: f.constants,
    buffers: [qkv, ...f.tables, dout, lse, D, dqkv],
    params: f.params,
    workgroups: f.workgroups,
  });
}

// ---------------------------------------------------------------- matmul

/** A [B*T, ld] matrix holding q and k column blocks. */
interface QK {
  buf: GPUBuffer;
  ld: number;
  offQ: number;
  offK: number;
}

const WG_ROPE = 64;

/** Copies the q, k blocks of src into dst, rotating (or, backward, un-rotating) the patch rows. */
function ropeCopy(gpu: Gpu, backward: boolean, dst: QK, src: QK, l: Layout): void {
  const rope = l.rope!;
  const n = l.B * l.T * l.C; // one invocation per pair of one of the two blocks
  gpu.dispatch({
    op: backward ? 'attention.bwd.rope' : 'attention.rope',
    shapes: describe(l, 'matmul'),
    shader: 'ops/attention.rope',
    defines: { F16_QKV: isF16(src.buf) },
    constants: { WG: WG_ROPE, BACKWARD: backward ? 1 : 0 },
    buffers: [dst.buf, src.buf, rope.cos, rope.sin],
    params: packParams([
      l.B * l.T,
      l.T,
      l.H,
      l.Dh,
      rope.prefix,
      src.ld,
      src.offQ,
      src.offK,
      dst.ld,
      dst.offQ,
      dst.offK,
    ]),
    workgroups: grid(gpu, cdiv(n, WG_ROPE)),
  });
}

/** The q and k the scores are made of: qkv itself, or the rotated copy in a scratch. */
function scoreInputs(gpu: Gpu, qkv: GPUBuffer, l: Layout): QK {
  const packed = { buf: qkv, ld: l.ld, offQ: l.offQ, offK: l.offK };
  if (!l.rope) return packed;
  const rotated = { buf: scratch(gpu, 'attention.qk', l.B * l.T * 2 * l.C), ld: 2 * l.C, offQ: 0, offK: l.C };
  ropeCopy(gpu, false, rotated, packed, l);
  return rotated;
}

/** S = scale Q K^T [B,H,T,T] into the shared scratch. */
function scores(gpu: Gpu, qk: QK, l: Layout, op: string): GPUBuffer {
  const S = scratch(gpu, 'attention.s', l.B * l.H * l.T * l.T);
  const head: [number, number] = [l.T * qk.ld, l.Dh];
  matmul(gpu, S, qk.buf, qk.buf, {
    M: l.T,
    N: l.T,
    K: l.Dh,
    transB: true,
    alpha: l.scale,
    lda: qk.ld,
    ldb: qk.ld,
    offA: qk.offQ,
    offB: qk.offK,
    batch1: l.B,
    batch2: l.H,
    strideA: head,
    strideB: head,
    op,
  });
  return S;
}

const RPW = 64;

function matmulForward(gpu: Gpu, out: GPUBuffer, lse: GPUBuffer, qkv: GPUBuffer, l: Layout): void {
  const { B, T, H, Dh, C } = l;
  const S = scores(gpu, scoreInputs(gpu, qkv, l), l, 'attention.fwd.qk');
  gpu.dispatch({
    op: 'attention.fwd.softmax',
    shapes: describe(l, 'matmul'),
    shader: 'ops/attention.softmax.fwd',
    constants: { RPW },
    buffers: [S, lse],
    params: packParams([B * H * T, T]),
    workgroups: grid(gpu, cdiv(B * H * T, RPW)),
  });
  // O = P V -> out, head h into columns [h*Dh, (h+1)*Dh)
  matmul(gpu, out, S, qkv, {
    M: T,
    N: Dh,
    K: T,
    ldb: l.ld,
    offB: l.offV,
    ldc: C,
    batch1: B,
    batch2: H,
    strideB: [T * l.ld, Dh],
    strideC: [T * C, Dh],
    op: 'attention.fwd.pv',
  });
}

function matmulBackward(
  gpu: Gpu,
  dqkv: GPUBuffer,
  dout: GPUBuffer,
  out: GPUBuffer,
  lse: GPUBuffer,
  qkv: GPUBuffer,
  l: Layout,
): void {
  const { B, T, H, Dh, C, ld } = l;
  const heads = { batch1: B, batch2: H };
  const qk = scoreInputs(gpu, qkv, l);
  const S = scores(gpu, qk, l, 'attention.bwd.qk');
  const dP = scratch(gpu, 'attention.dp', B * H * T * T);
  // dP = dO V^T
  matmul(gpu, dP, dout, qkv, {
    M: T,
    N: T,
    K: Dh,
    transB: true,
    lda: C,
    ldb: ld,
    offB: l.offV,
    ...heads,
    strideA: [T * C, Dh],
    strideB: [T * ld, Dh],
    op: 'attention.bwd.dp',
  });
  // S -> P, dP -> dS
  gpu.dispatch({
    op: 'attention.bwd.softmax',
    shapes: describe(l, 'matmul'),
    shader: 'ops/attention.softmax.bwd',
    defines: { F16_OUT: isF16(out) },
    constants: { RPW },
    buffers: [S, dP, lse, dout, out],
    params: packParams([B * H * T, T, H, Dh, C]),
    workgroups: grid(gpu, cdiv(B * H * T, RPW)),
  });
  // dV = P^T dO -> the v block of dqkv
  matmul(gpu, dqkv, S, dout, {
    M: T,
    N: Dh,
    K: T,
    transA: true,
    ldb: C,
    ldc: ld,
    offC: l.offV,
    ...heads,
    strideB: [T * C, Dh],
    strideC: [T * ld, Dh],
    op: 'attention.bwd.dv',
  });
  // dQ = scale dS K, dK = scale dS^T Q: into dqkv, or (RoPE) into a scratch that the RoPE
  // backward then copies into dqkv.
  const dqk: QK = l.rope
    ? { buf: scratch(gpu, 'attention.dqk', B * T * 2 * C), ld: 2 * C, offQ: 0, offK: C }
    : { buf: dqkv, ld, offQ: l.offQ, offK: l.offK };
  const strideB: [number, number] = [T * qk.ld, Dh];
  const strideC: [number, number] = [T * dqk.ld, Dh];
  matmul(gpu, dqk.buf, dP, qk.buf, {
    M: T,
    N: Dh,
    K: T,
    alpha: l.scale,
    ldb: qk.ld,
    offB: qk.offK,
    ldc: dqk.ld,
    offC: dqk.offQ,
    ...heads,
    strideB,
    strideC,
    op: 'attention.bwd.dq',
  });
  matmul(gpu, dqk.buf, dP, qk.buf, {
    M: T,
    N: Dh,
    K: T,
    transA: true,
    alpha: l.scale,
    ldb: qk.ld,
    offB: qk.offQ,
    ldc: dqk.ld,
    offC: dqk.offK,
    ...heads,
    strideB,
    strideC,
    op: 'attention.bwd.dk',
  });
  if (l.rope) ropeCopy(gpu, true, { buf: dqkv, ld, offQ: l.offQ, offK: l.offK }, dqk, l);
}

// ---------------------------------------------------------------- the unfused API (peer)

/** Elements of the `att` (saved P) and `datt` (backward scratch) buffers of the unfused API. */
export function attentionAttSize(B: number, T: number, H: number): number {
  return B * H * T * T;
}

function headDim(C: number, H: number): number {
  if (!Number.isInteger(H) || H <= 0 || C % H !== 0) {
    throw new Error(`attention: C = ${C} is not a multiple of H = ${H}`);
  }
  return C / H;
}

/**
 * The unfused forward: q, k, v, out [B, T, C] (RoPE already applied to q, k by the caller);
 * out = concat_h softmax(scale Q_h K_h^T) V_h, P saved in `att` [B, H, T, T] for the backward.
 */
export function attentionForwardSavedP(
  gpu: Gpu,
  out: GPUBuffer,
  att: GPUBuffer,
  q: GPUBuffer,
  k: GPUBuffer,
  v: GPUBuffer,
  B: number,
  T: number,
  C: number,
  H: number,
): void {
  const Dh = headDim(C, H);
  const scale = 1 / Math.sqrt(Dh);
  const heads = { batch1: B, batch2: H };
  const slice: [number, number] = [T * C, Dh]; // head (b, h) of a [B,T,C] tensor
  matmul(gpu, att, q, k, {
    M: T,
    N: T,
    K: Dh,
    transB: true,
    alpha: scale,
    lda: C,
    ldb: C,
    ...heads,
    strideA: slice,
    strideB: slice,
    op: 'attention.fwd.qk',
  });
  softmaxForward(gpu, att, att, B * H * T, T);
  matmul(gpu, out, att, v, {
    M: T,
    N: Dh,
    K: T,
    ldb: C,
    ldc: C,
    ...heads,
    strideB: slice,
    strideC: slice,
    op: 'attention.fwd.pv',
  });
}

/**
 * The unfused backward: adds into dq, dk, dv (a null one is skipped) from the saved P `att`;
 * `datt` [B,H,T,T] is scratch (dP, overwritten in place by dS).
 */
export function attentionBackwardSavedP(
  gpu: Gpu,
  dq: GPUBuffer | null,
  dk: GPUBuffer | null,
  dv: GPUBuffer | null,
  datt: GPUBuffer,
  dout: GPUBuffer,
  q: GPUBuffer,
  k: GPUBuffer,
  v: GPUBuffer,
  att: GPUBuffer,
  B: number,
  T: number,
  C: number,
  H: number,
): void {
  const Dh = headDim(C, H);
  const scale = 1 / Math.sqrt(Dh);
  const heads = { batch1: B, batch2: H };
  const slice: [number, number] = [T * C, Dh];
  if (dv) {
    matmul(gpu, dv, att, dout, {
      M: T,
      N: Dh,
      K: T,
      transA: true,
      accum: true,
      ldb: C,
      ldc: C,
      ...heads,
      strideB: slice,
      strideC: slice,
      op: 'attention.bwd.dv',
    });
  }
  if (!dq && !dk) return;
  matmul(gpu, datt, dout, v, {
    M: T,
    N: T,
    K: Dh,
    transB: true,
    lda: C,
    ldb: C,
    ...heads,
    strideA: slice,
    strideB: slice,
    op: 'attention.bwd.dp',
  });
  softmaxBackward(gpu, datt, datt, att, B * H * T, T, 1, false);
  if (dq) {
    matmul(gpu, dq, datt, k, {
      M: T,
      N: Dh,
      K: T,
      alpha: scale,
      accum: true,
      ldb: C,
      ldc: C,
      ...heads,
      strideB: slice,
      strideC: slice,
      op: 'attention.bwd.dq',
    });
  }
  if (dk) {
    matmul(gpu, dk, datt, q, {
      M: T,
      N: Dh,
      K: T,
      transA: true,
      alpha: scale,
      accum: true,
      ldb: C,
      ldc: C,
      ...heads,
      strideB: slice,
      strideC: slice,
      op: 'attention.bwd.dk',
    });
  }
}

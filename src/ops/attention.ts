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
 *   'flash'   fused kernels, tiles in workgroup memory (./attention-flash); forward 1 dispatch,
 *             backward 2. Needs Dh % 4 == 0 (% 8 with RoPE), Dh <= 128, 4-aligned ld and
 *             offsets, tiles that fit the workgroup storage; else 'matmul' runs instead.
 *   'matmul'  strided batched matmuls and row kernels without workgroup memory, for CPU adapters
 *             (SwiftShader), where workgroup memory and barriers are slow (./attention-matmul).
 * Both check shapes and buffers through ./attention-layout.
 * On SwiftShader (tools/attention-lab.ts, CPU time, ViT-S/B at B = 8): 'matmul' runs the forward
 * at the cost of the unfused path and the backward at ~1.2x (it recomputes S = Q K^T); 'flash'
 * is ~4x slower than 'matmul' there, and a fused kernel without workgroup memory ~10x
 * (shaders/dev/attention_fwd_v1_rows.wgsl).
 *
 * The previous, unfused op (separate q, k, v [B,T,C], P [B,H,T,T] saved per layer, RoPE as
 * separate passes) stays as `attentionForwardSavedP` / `attentionBackwardSavedP`
 * (./attention-saved-p, re-exported here): the benchmark (bench/ops/attention.bench.ts) times it
 * as the peer of the fused op.
 */
import type { Gpu } from '../gpu/device';
import { flashBackward, flashForward, flashTile } from './attention-flash';
import { checkBuffers, layoutOf, type AttentionShape, type AttentionVariant, type Layout } from './attention-layout';
import { matmulBackward, matmulForward } from './attention-matmul';

export type { AttentionShape, AttentionVariant } from './attention-layout';
export { attentionAttSize, attentionBackwardSavedP, attentionForwardSavedP } from './attention-saved-p';

/** Elements of the `lse` buffer: B * H * T. */
export function attentionLseSize(B: number, T: number, H: number): number {
  return B * H * T;
}

// ---------------------------------------------------------------- variant choice

/** The preferred variant: `gpu.variants.get('attention')`, else by `gpu.defaults`. */
export function defaultAttentionVariant(gpu: Gpu): AttentionVariant {
  const v = gpu.variants.get('attention') ?? (gpu.defaults === 'software' ? 'matmul' : 'flash');
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

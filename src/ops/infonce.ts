/**
 * infonce: InfoNCE loss on L2-normalized embeddings (the caller normalizes), as vembed-factory's
 * InfoNCELoss with in-batch negatives (shaders/ops/infonce.fwd.wgsl, infonce.bwd.wgsl):
 *   q [B,D] queries, p [B,D] positives, logits [B,B] = q p^T / tau
 *   loss = mean_i CE(logits_i, i)                                  (query -> positive)
 * With labels [B] (u32): supervised-contrastive positives M_ij = [label_i == label_j] (diagonal
 * included), loss = -mean_i sum_j M_ij log softmax(logits_i)_j / sum_j M_ij.
 * bidirectional adds the positive -> query direction (logits^T, same mask):
 *   'mean' (or true): (loss_qp + loss_pq) / 2, what vembed-factory's `loss_bidirectional` does;
 *   'sum': loss_qp + loss_pq.
 * Forward writes loss [1] and saves logits [B,B] and stats [3,B] (row/column logsumexp and
 * positive counts) in the scratch for the backward. Backward ADDS into dq [B,D] and dp [B,D]:
 *   dlogits = dloss * d loss / d logits   (fused row kernel, into scratch.dlogits)
 *   dq += dlogits p / tau,   dp += dlogits^T q / tau   (matmul)
 */
import { cdiv, dims, packParams, type Gpu } from '../gpu/device';
import { matmul } from './matmul';
import { dummyBuffer } from './support';

export interface InfonceOpts {
  /** Temperature; default 0.05 (vembed-factory). */
  tau?: number;
  /** false (default), true / 'mean' (average of both directions), or 'sum'. */
  bidirectional?: boolean | 'mean' | 'sum';
  /** Gradient of the final objective with respect to the loss (backward only); default 1. */
  dlossScale?: number;
}

/** Buffers shared by forward and backward (see infonceScratch). */
export interface InfonceScratch<Buf = GPUBuffer> {
  /** [B,B], saved by the forward. */
  logits: Buf;
  /** [3,B]: row logsumexp, column logsumexp, positive count; saved by the forward. */
  stats: Buf;
  /** [B,B], written by the backward. */
  dlogits: Buf;
}

export function infonceScratch(gpu: Gpu, B: number): InfonceScratch {
  return {
    logits: gpu.zeros(B * B, 'infonce logits'),
    stats: gpu.zeros(3 * B, 'infonce stats'),
    dlogits: gpu.zeros(B * B, 'infonce dlogits'),
  };
}

/** Weight of each direction's mean loss, and whether the p -> q direction is on. */
export function infonceDirections(opts: InfonceOpts): { bidir: boolean; w: number } {
  const b = opts.bidirectional ?? false;
  if (b === false) return { bidir: false, w: 1 };
  return { bidir: true, w: b === 'sum' ? 1 : 0.5 };
}

const FWD_WG = 256;
const BWD_WG = 16;

export function infonceForward(
  gpu: Gpu,
  loss: GPUBuffer,
  scratch: InfonceScratch,
  q: GPUBuffer,
  p: GPUBuffer,
  labels: GPUBuffer | null,
  B: number,
  D: number,
  opts: InfonceOpts = {},
): void {
  const tau = opts.tau ?? 0.05;
  const { bidir, w } = infonceDirections(opts);
  matmul(gpu, scratch.logits, q, p, { M: B, N: B, K: D, transB: true, alpha: 1 / tau, op: 'infonce.fwd.logits' });
  gpu.dispatch({
    op: 'infonce.fwd',
    shapes: dims`q,p[${B},${D}]${labels ? ' labels' : ''}${bidir ? ' bidir' : ''}`,
    shader: 'ops/infonce.fwd',
    constants: { WG: FWD_WG, HAS_LABELS: labels ? 1 : 0, BIDIR: bidir ? 1 : 0 },
    buffers: [scratch.stats, loss, scratch.logits, labels ?? dummyBuffer(gpu)],
    params: packParams([B], [w]),
    workgroups: [1],
  });
}

export function infonceBackward(
  gpu: Gpu,
  dq: GPUBuffer,
  dp: GPUBuffer,
  scratch: InfonceScratch,
  q: GPUBuffer,
  p: GPUBuffer,
  labels: GPUBuffer | null,
  B: number,
  D: number,
  opts: InfonceOpts = {},
): void {
  const tau = opts.tau ?? 0.05;
  const { bidir, w } = infonceDirections(opts);
  const s = ((opts.dlossScale ?? 1) * w) / B;
  gpu.dispatch({
    op: 'infonce.bwd',
    shapes: dims`q,p[${B},${D}]${labels ? ' labels' : ''}${bidir ? ' bidir' : ''}`,
    shader: 'ops/infonce.bwd',
    constants: { WG_X: BWD_WG, WG_Y: BWD_WG, HAS_LABELS: labels ? 1 : 0, BIDIR: bidir ? 1 : 0 },
    buffers: [scratch.dlogits, scratch.logits, scratch.stats, labels ?? dummyBuffer(gpu)],
    params: packParams([B], [s]),
    workgroups: [cdiv(B, BWD_WG), cdiv(B, BWD_WG)],
  });
  matmul(gpu, dq, scratch.dlogits, p, { M: B, N: D, K: B, alpha: 1 / tau, accum: true, op: 'infonce.bwd.dq' });
  matmul(gpu, dp, scratch.dlogits, q, {
    M: B,
    N: D,
    K: B,
    transA: true,
    alpha: 1 / tau,
    accum: true,
    op: 'infonce.bwd.dp',
  });
}

/**
 * cosent: CoSENT loss over in-batch pairs on L2-normalized embeddings (the caller normalizes),
 * as vembed-factory's CoSENTLoss (shaders/ops/cosent.fwd.wgsl, cosent.bwd.wgsl):
 *   q [B,D] queries, p [B,D] positives, sim [B,B] = q p^T, pos_i = sim_ii
 *   loss = log(1 + sum_{valid (i,j)} exp(scale * (sim_ij - pos_i)))
 *        = logsumexp({0} ∪ {scale * (sim_ij - pos_i)})
 * ONE scalar over all valid pairs of the batch (not a mean over rows). Valid pairs: j != i; with
 * labels [B] (u32) only label_j != label_i (same-label items are never negatives;
 * vembed-factory has no labels here). No valid pair (B = 1, or one label for the whole batch):
 * loss log(1) = 0 and zero gradients. Any B: the forward's single workgroup folds rows into
 * running (max, sum) pairs, so there is no size limit (cost ~2 B^2 / 256 steps per invocation).
 * Forward writes loss [1] and saves sim [B,B] and stats [2B+1] (per-row max and sum of the
 * exponentials, the global logsumexp) in the scratch. Backward ADDS into dq, dp:
 *   w_ij = exp(x_ij - lse),  dsim_ij = dloss * scale * w_ij,  dsim_ii = -dloss * scale * sum_j w_ij
 *   dq += dsim p,   dp += dsim^T q   (matmul)
 */
import { cdiv, dims, packParams, type Gpu } from '../gpu/device';
import { matmul } from './matmul';
import { dummyBuffer } from './support';

export interface CosentOpts {
  /** Scale on cosine differences; default 20 (vembed-factory's `cosent_scale`). */
  scale?: number;
  /** Gradient of the final objective with respect to the loss (backward only); default 1. */
  dlossScale?: number;
}

/** Buffers shared by forward and backward (see cosentScratch). */
export interface CosentScratch<Buf = GPUBuffer> {
  /** [B,B] similarities, saved by the forward. */
  sim: Buf;
  /** [2B+1]: row max of the scaled differences, row sum of exp(x - row max), logsumexp. */
  stats: Buf;
  /** [B,B], written by the backward. */
  dsim: Buf;
}

export function cosentScratch(gpu: Gpu, B: number): CosentScratch {
  return {
    sim: gpu.zeros(B * B, 'cosent sim'),
    stats: gpu.zeros(2 * B + 1, 'cosent stats'),
    dsim: gpu.zeros(B * B, 'cosent dsim'),
  };
}

const FWD_WG = 256;
const BWD_WG = 16;

export function cosentForward(
  gpu: Gpu,
  loss: GPUBuffer,
  scratch: CosentScratch,
  q: GPUBuffer,
  p: GPUBuffer,
  labels: GPUBuffer | null,
  B: number,
  D: number,
  opts: CosentOpts = {},
): void {
  matmul(gpu, scratch.sim, q, p, { M: B, N: B, K: D, transB: true, op: 'cosent.fwd.sim' });
  gpu.dispatch({
    op: 'cosent.fwd',
    shapes: dims`q,p[${B},${D}]${labels ? ' labels' : ''}`,
    shader: 'ops/cosent.fwd',
    constants: { WG: FWD_WG, HAS_LABELS: labels ? 1 : 0 },
    buffers: [scratch.stats, loss, scratch.sim, labels ?? dummyBuffer(gpu)],
    params: packParams([B], [opts.scale ?? 20]),
    workgroups: [1],
  });
}

export function cosentBackward(
  gpu: Gpu,
  dq: GPUBuffer,
  dp: GPUBuffer,
  scratch: CosentScratch,
  q: GPUBuffer,
  p: GPUBuffer,
  labels: GPUBuffer | null,
  B: number,
  D: number,
  opts: CosentOpts = {},
): void {
  gpu.dispatch({
    op: 'cosent.bwd',
    shapes: dims`q,p[${B},${D}]${labels ? ' labels' : ''}`,
    shader: 'ops/cosent.bwd',
    constants: { WG_X: BWD_WG, WG_Y: BWD_WG, HAS_LABELS: labels ? 1 : 0 },
    buffers: [scratch.dsim, scratch.sim, scratch.stats, labels ?? dummyBuffer(gpu)],
    params: packParams([B], [opts.scale ?? 20, opts.dlossScale ?? 1]),
    workgroups: [cdiv(B, BWD_WG), cdiv(B, BWD_WG)],
  });
  matmul(gpu, dq, scratch.dsim, p, { M: B, N: D, K: B, accum: true, op: 'cosent.bwd.dq' });
  matmul(gpu, dp, scratch.dsim, q, { M: B, N: D, K: B, transA: true, accum: true, op: 'cosent.bwd.dp' });
}

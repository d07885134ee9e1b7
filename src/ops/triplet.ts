/**
 * triplet: triplet loss with the hardest in-batch negative on L2-normalized embeddings (the
 * caller normalizes), as vembed-factory's TripletMarginLoss (shaders/ops/triplet.fwd.wgsl,
 * triplet.bwd.wgsl):
 *   q [B,D] queries, p [B,D] positives, sim [B,B] = q p^T, pos_i = sim_ii
 *   n_i = max_{j negative of i} sim_ij,   loss = mean_i relu(n_i - pos_i + margin)
 * Negatives of i: every j != i; with labels [B] (u32) only j with label_j != label_i (same-label
 * items are never negatives; vembed-factory has no labels here). Ties in the max: the lowest j
 * wins, as torch's max. A row without negatives (B = 1, or all others share its label) adds 0
 * to the sum but still counts in the mean's denominator B, as vembed-factory's masked -1e9 row
 * does for B = 1.
 * Forward writes loss [1] and saves sim [B,B] and hard [B] (u32: the hardest negative of each
 * row whose hinge is active, > 0, else 0xffffffff) in the scratch. Backward ADDS into dq, dp:
 *   dsim_{i,n_i} = dloss / B, dsim_ii = -dloss / B for active rows (into scratch.dsim)
 *   dq += dsim p,   dp += dsim^T q   (matmul)
 */
import { cdiv, dims, packParams, type Gpu } from '../gpu/device';
import { matmul } from './matmul';
import { dummyBuffer } from './support';

export interface TripletOpts {
  /** Margin on cosine similarity; default 0.5 (vembed-factory's `triplet_margin`). */
  margin?: number;
  /** Gradient of the final objective with respect to the loss (backward only); default 1. */
  dlossScale?: number;
}

/** Buffers shared by forward and backward (see tripletScratch). */
export interface TripletScratch<Buf = GPUBuffer> {
  /** [B,B] similarities, saved by the forward. */
  sim: Buf;
  /** [B] hardest-negative index of active rows, else none (GPU: u32 0xffffffff; ref: -1). */
  hard: Buf;
  /** [B,B], written by the backward. */
  dsim: Buf;
}

export function tripletScratch(gpu: Gpu, B: number): TripletScratch {
  return {
    sim: gpu.zeros(B * B, 'triplet sim'),
    hard: gpu.zeros(B, 'triplet hard'),
    dsim: gpu.zeros(B * B, 'triplet dsim'),
  };
}

const FWD_WG = 256;
const BWD_WG = 16;

export function tripletForward(
  gpu: Gpu,
  loss: GPUBuffer,
  scratch: TripletScratch,
  q: GPUBuffer,
  p: GPUBuffer,
  labels: GPUBuffer | null,
  B: number,
  D: number,
  opts: TripletOpts = {},
): void {
  matmul(gpu, scratch.sim, q, p, { M: B, N: B, K: D, transB: true, op: 'triplet.fwd.sim' });
  gpu.dispatch({
    op: 'triplet.fwd',
    shapes: dims`q,p[${B},${D}]${labels ? ' labels' : ''}`,
    shader: 'ops/triplet.fwd',
    constants: { WG: FWD_WG, HAS_LABELS: labels ? 1 : 0 },
    buffers: [scratch.hard, loss, scratch.sim, labels ?? dummyBuffer(gpu)],
    params: packParams([B], [opts.margin ?? 0.5]),
    workgroups: [1],
  });
}

/** `labels` is not read (the forward's hard indices already exclude same-label items); it is
 * taken so that all losses are called alike. */
export function tripletBackward(
  gpu: Gpu,
  dq: GPUBuffer,
  dp: GPUBuffer,
  scratch: TripletScratch,
  q: GPUBuffer,
  p: GPUBuffer,
  labels: GPUBuffer | null,
  B: number,
  D: number,
  opts: TripletOpts = {},
): void {
  gpu.dispatch({
    op: 'triplet.bwd',
    shapes: dims`q,p[${B},${D}]${labels ? ' labels' : ''}`,
    shader: 'ops/triplet.bwd',
    constants: { WG_X: BWD_WG, WG_Y: BWD_WG },
    buffers: [scratch.dsim, scratch.hard],
    params: packParams([B], [(opts.dlossScale ?? 1) / B]),
    workgroups: [cdiv(B, BWD_WG), cdiv(B, BWD_WG)],
  });
  matmul(gpu, dq, scratch.dsim, p, { M: B, N: D, K: B, accum: true, op: 'triplet.bwd.dq' });
  matmul(gpu, dp, scratch.dsim, q, { M: B, N: D, K: B, transA: true, accum: true, op: 'triplet.bwd.dp' });
}

/**
 * topk: cosine-similarity top-K search (forward only; shaders/ops/topk.wgsl + matmul).
 *   queries [Q,D], gallery [G,D]: both already L2-normalized, so cosine = dot product
 *   indices [Q,K] u32, scores [Q,K] f32 (written): per query the K best gallery rows, by
 *   descending score, TIES BROKEN BY THE LOWER GALLERY INDEX.
 * When fewer than K candidates exist (K > G, or K >= G with excludeSelf) the tail of each row is
 * filled with index 0xFFFFFFFF (TOPK_NONE) and score -Infinity. NaN similarities never enter.
 * excludeSelf skips gallery index == query index + selfOffset (the gallery is the query set,
 * or contains it from row selfOffset on).
 *
 * Memory stays bounded for any Q, G: the gallery is processed in chunks of `chunkRows` rows and
 * the queries in blocks of `queryBlock` rows; per (chunk, block) a matmul writes the similarity
 * tile [chunkRows, queryBlock] into scratch and the selection kernel merges it into the running
 * [Q,K] lists (which live in the output buffers). Extra memory: the tile, plus a copy of one
 * chunk / block when the gallery / query buffer is larger than one storage-buffer binding
 * (Gpu.dispatch binds whole buffers, so rows are then copied out with copyBufferToBuffer).
 * At Q = G = 60,502, D = 768, K = 100: 64 MiB tile (4096 x 4096), 48 MiB of outputs.
 * Returns after the work is submitted (it flushes once per outer chunk); read the outputs as usual.
 */
import { cdiv, packParams, type Gpu } from '../gpu/device';
import { dummyBuffer, matmul } from './matmul';

/** Index of an empty slot (fewer than K candidates). */
export const TOPK_NONE = 0xffffffff;

export interface TopkOpts {
  /** Skip gallery index == query index + selfOffset; default false. */
  excludeSelf?: boolean;
  /** default 0; may be negative. */
  selfOffset?: number;
  /** Gallery rows per chunk; default: as many as the tile budget and binding limit allow. */
  chunkRows?: number;
  /** Query rows per block; default 4096. */
  queryBlock?: number;
  /** Budget for the similarity tile in bytes; default 64 MiB (and at most one binding). */
  tileBytes?: number;
  /** Largest buffer bound as a whole; default device.limits.maxStorageBufferBindingSize. */
  maxBindingBytes?: number;
}

export interface TopkPlan {
  /** Gallery rows per chunk, query rows per block. */
  chunkRows: number;
  queryBlock: number;
  /** Whether gallery chunks / query blocks are copied into scratch (buffer > one binding). */
  copyGallery: boolean;
  copyQueries: boolean;
  /** Loop over query blocks outside and gallery chunks inside (fewer copies). */
  queriesOuter: boolean;
}

export function topkPlan(Q: number, G: number, D: number, maxBinding: number, opts: TopkOpts = {}): TopkPlan {
  const rowBytes = D * 4;
  const maxRows = Math.floor(maxBinding / rowBytes);
  if (maxRows < 1) throw new Error(`topk: one row of D=${D} exceeds the binding limit ${maxBinding}`);
  const tileBudget = Math.min(opts.tileBytes ?? 64 * 2 ** 20, maxBinding);
  let queryBlock = Math.max(1, Math.min(Q, opts.queryBlock ?? 4096, maxRows));
  let chunkRows: number;
  if (opts.chunkRows !== undefined) {
    chunkRows = Math.max(1, Math.min(G, opts.chunkRows, maxRows));
    queryBlock = Math.max(1, Math.min(queryBlock, Math.floor(tileBudget / (chunkRows * 4))));
  } else {
    chunkRows = Math.max(1, Math.min(G, maxRows, Math.floor(tileBudget / (queryBlock * 4))));
  }
  const copyGallery = G * rowBytes > maxBinding;
  const copyQueries = Q * rowBytes > maxBinding;
  return { chunkRows, queryBlock, copyGallery, copyQueries, queriesOuter: copyQueries && !copyGallery };
}

const WG = 64;

export async function topkForward(
  gpu: Gpu,
  indices: GPUBuffer,
  scores: GPUBuffer,
  queries: GPUBuffer,
  gallery: GPUBuffer,
  Q: number,
  G: number,
  D: number,
  K: number,
  opts: TopkOpts = {},
): Promise<void> {
  if (!Number.isInteger(K) || K < 1) throw new Error(`topk: K must be an integer >= 1 (got ${K})`);
  if (Q === 0) return;
  const maxBinding = opts.maxBindingBytes ?? gpu.device.limits.maxStorageBufferBindingSize;
  if (Q * K * 4 > gpu.device.limits.maxStorageBufferBindingSize) {
    throw new Error(`topk: outputs [${Q},${K}] exceed one storage binding; split the queries`);
  }
  const plan = topkPlan(Q, G, D, maxBinding, opts);
  const { chunkRows, queryBlock } = plan;
  const shapes = `queries[${Q},${D}] gallery[${G},${D}] K=${K} chunk ${chunkRows}x${queryBlock}`;
  const tile = gpu.zeros(chunkRows * queryBlock, 'topk tile');
  const gScratch = plan.copyGallery ? gpu.zeros(chunkRows * D, 'topk gallery chunk') : null;
  const qScratch = plan.copyQueries ? gpu.zeros(queryBlock * D, 'topk query block') : null;
  const selfOffset = (opts.selfOffset ?? 0) >>> 0;

  const select = (q0: number, nq: number, g0: number, ng: number, first: boolean) =>
    gpu.dispatch({
      op: 'topk.select',
      shapes,
      shader: 'ops/topk',
      constants: { WG, EXCLUDE_SELF: opts.excludeSelf ? 1 : 0 },
      buffers: [scores, indices, ng > 0 ? tile : dummyBuffer(gpu)],
      params: packParams([q0, nq, g0, ng, K, selfOffset, first ? 1 : 0, 0xff800000]),
      workgroups: [cdiv(nq, WG)],
    });

  /** Where rows r0..r0+n-1 can be read: the buffer itself (offset) or a scratch copy. */
  const rows = (src: GPUBuffer, scratch: GPUBuffer | null, r0: number, n: number): [GPUBuffer, number] => {
    if (!scratch) return [src, r0 * D];
    gpu.copy(src, scratch, n * D * 4, r0 * D * 4);
    return [scratch, 0];
  };
  /** Similarities of gallery rows g0.. with query rows q0.. into the tile, then the merge. */
  const step = (q0: number, nq: number, [qSrc, qOff]: [GPUBuffer, number],
    g0: number, ng: number, [gSrc, gOff]: [GPUBuffer, number]) => {
    matmul(gpu, tile, gSrc, qSrc, {
      M: ng, N: nq, K: D, transB: true, offA: gOff, offB: qOff, op: 'topk.similarity',
    });
    select(q0, nq, g0, ng, g0 === 0);
  };

  try {
    if (G === 0) {
      select(0, Q, 0, 0, true); // nothing to search: all slots empty
    } else if (!plan.queriesOuter) {
      for (let g0 = 0; g0 < G; g0 += chunkRows) {
        const ng = Math.min(chunkRows, G - g0);
        const gRows = rows(gallery, gScratch, g0, ng);
        for (let q0 = 0; q0 < Q; q0 += queryBlock) {
          const nq = Math.min(queryBlock, Q - q0);
          step(q0, nq, rows(queries, qScratch, q0, nq), g0, ng, gRows);
        }
        await gpu.flush();
      }
    } else {
      // Only the queries need copying: copy each block once, bind the gallery whole.
      for (let q0 = 0; q0 < Q; q0 += queryBlock) {
        const nq = Math.min(queryBlock, Q - q0);
        const qRows = rows(queries, qScratch, q0, nq);
        for (let g0 = 0; g0 < G; g0 += chunkRows) {
          const ng = Math.min(chunkRows, G - g0);
          step(q0, nq, qRows, g0, ng, rows(gallery, gScratch, g0, ng));
        }
        await gpu.flush();
      }
    }
    await gpu.flush();
  } finally {
    // flush() has submitted every command that uses the scratch, so it can go.
    for (const b of [tile, gScratch, qScratch]) b?.destroy();
  }
}

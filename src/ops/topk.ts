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
 * the queries in blocks of `queryBlock` rows; per (chunk, block) our matmul writes the similarity
 * tile [queryBlock, chunkRows] (each query's row contiguous; for 4 queries or fewer, a dot-product
 * kernel of its own, shaders/ops/topk.similarity.wgsl, does) into scratch, and the selection
 * merges it into the running lists, which live in the output buffers as heaps (worst entry at
 * the root) until a last pass sorts them. The selection does little more than read the tile
 * once: after a block's first chunk (scanned with heap updates), `collect` compares each value
 * with the query's K-th score so far and keeps the few that beat it, `merge` puts those into
 * the heap (or rescans the row when more than `candidates` did: exact whatever the data order).
 * Fused variant (`topkFused`: by default for D <= 64, a multiple of 4): no tile; one kernel
 * (./topk-fused.ts) computes each block of similarities in registers and collects the values
 * that beat the K-th score itself, and `merge` recomputes a row from the embeddings where it must
 * scan it (a block's first chunk, or a row with more newcomers than slots). At D = 16 on
 * SwiftShader the similarity GEMM alone cost as much as the fused kernel, and writing and
 * collecting the tile came on top (16,384^2, top-100: 21.6 -> 14.4 s).
 * Extra memory: the tile (none when fused), the candidate slots [queryBlock, candidates] (8 bytes each), plus a
 * copy of one chunk / block when the gallery / query buffer is larger than one storage-buffer
 * binding (Gpu.dispatch binds whole buffers, so rows are then copied out with
 * copyBufferToBuffer). At Q = G = 60,502, D = 768, K = 100: 64 MiB tile (4096 x 4096), 8 MiB of
 * candidates, 48 MiB of outputs.
 * Returns after the work is submitted (it flushes once per outer chunk); read the outputs as usual.
 */
import { cdiv, dims, packParams, type Gpu } from '../gpu/device';
import { matmul } from './matmul';
import { FUSED_WG } from './topk-fused';

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
  /** Candidate slots per query and chunk; default 2K rounded up to 16 (at least 64). */
  candidates?: number;
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
  /** Row stride of the tile in floats (chunkRows rounded up to 16). */
  tileStride: number;
  /** Candidate slots per query and chunk (beyond them the row is rescanned). */
  candidates: number;
}

export function topkPlan(Q: number, G: number, D: number, maxBinding: number, opts: TopkOpts = {}, K = 100): TopkPlan {
  const rowBytes = D * 4;
  const maxRows = Math.floor(maxBinding / rowBytes);
  if (maxRows < 1) throw new Error(`topk: one row of D=${D} exceeds the binding limit ${maxBinding}`);
  const tileBudget = Math.min(opts.tileBytes ?? 64 * 2 ** 20, maxBinding);
  const pad16 = (n: number) => Math.ceil(n / 16) * 16;
  let queryBlock = Math.max(1, Math.min(Q, opts.queryBlock ?? 4096, maxRows));
  let chunkRows: number;
  if (opts.chunkRows !== undefined) {
    chunkRows = Math.max(1, Math.min(G, opts.chunkRows, maxRows));
    queryBlock = Math.max(1, Math.min(queryBlock, Math.floor(tileBudget / (pad16(chunkRows) * 4))));
  } else {
    chunkRows = Math.max(1, Math.min(G, maxRows, Math.floor(tileBudget / (queryBlock * 4 * 16)) * 16));
  }
  const copyGallery = G * rowBytes > maxBinding;
  const copyQueries = Q * rowBytes > maxBinding;
  // Enough slots for a chunk's usual newcomers (~K / chunks seen so far on unordered data).
  const candidates = Math.max(
    1,
    Math.min(opts.candidates ?? Math.max(64, pad16(2 * K)), Math.floor(maxBinding / (queryBlock * 8))),
  );
  return {
    chunkRows,
    queryBlock,
    copyGallery,
    copyQueries,
    queriesOuter: copyQueries && !copyGallery,
    tileStride: pad16(chunkRows),
    candidates,
  };
}

const WG = 64;
/** Up to this many queries, the similarities come from topk.similarity instead of matmul. */
const FEW_QUERIES = 4;

/**
 * Whether the similarities and the collect run fused (src/ops/topk-fused.ts: no similarity tile
 * written and read back) or as matmul into the tile then `collect`: `gpu.variants.get('topk')`
 * 'fused' | 'tile'; by default fused for embeddings up to FUSED_MAX_D wide (where writing and
 * reading the tile costs more than the dot products), the tile above (where matmul's tuned GEMM
 * wins). The fused kernel reads vec4 rows: D must be a multiple of 4.
 */
export function topkFused(gpu: Gpu, D: number): boolean {
  if (D % 4 !== 0) return false;
  const v = gpu.variants.get('topk');
  if (v !== undefined && v !== 'fused' && v !== 'tile')
    throw new Error(`topk: unknown variant "${v}" (expected 'fused' or 'tile')`);
  return v === undefined ? D <= FUSED_MAX_D : v === 'fused';
}
const FUSED_MAX_D = 64;

/**
 * Queries x gallery rows per invocation of the fused kernel: `gpu.variants.get('topk.tile')`
 * ('16x16', ...); by default 16 x 16 on software adapters (SwiftShader, 60k x 60k at D = 16: 16x16
 * 4.7 s, 16x8 4.8 s, 8x8 5.0 s, 4x8 5.3 s at 8,192^2), 8 x 8 on GPUs (64 accumulators per
 * invocation; 256 would spill registers).
 */
function fusedTile(gpu: Gpu): [number, number] {
  const v = gpu.variants.get('topk.tile') ?? (gpu.defaults === 'software' ? '16x16' : '8x8');
  const m = /^(\d+)x(\d+)$/.exec(v);
  if (!m || Number(m[2]) % 4 !== 0)
    throw new Error(`topk: tile "${v}" is not <queries>x<gallery rows, a multiple of 4>`);
  return [Number(m[1]), Number(m[2])];
}

/**
 * The gallery chunks [g0, rows] in order: a first chunk of ~2K rows (scanned with heap updates),
 * then each at most as large as all rows seen so far, up to chunkRows: on data in no particular
 * order, a chunk of c rows after s brings ~K c / s values above the K-th score so far, so at
 * most ~K, which fit the 2K candidate slots.
 */
export function galleryChunks(G: number, chunkRows: number, K: number): [number, number][] {
  const out: [number, number][] = [];
  let n = Math.min(chunkRows, Math.ceil((2 * K) / 16) * 16);
  for (let g0 = 0; g0 < G; g0 += n, n = Math.min(chunkRows, g0)) out.push([g0, Math.min(n, G - g0)]);
  return out;
}

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
  const plan = topkPlan(Q, G, D, maxBinding, opts, K);
  const { chunkRows, queryBlock, tileStride, candidates } = plan;
  // A few queries (the app's Search: one) would leave most of matmul's register tile idle: those
  // go through topk.similarity (4 gallery rows per invocation). Chosen per call, not per block,
  // so that blocking never changes a result.
  const fewQueries = Q <= FEW_QUERIES && D % 4 === 0;
  const fused = !fewQueries && topkFused(gpu, D);
  const [tq, tg] = fused ? fusedTile(gpu) : [0, 0];
  const shapes = dims`queries[${Q},${D}] gallery[${G},${D}] K=${K} chunk ${chunkRows}x${queryBlock}${fused ? ' fused' : ''}`;
  const tile = fused ? null : gpu.zeros(queryBlock * tileStride, 'topk tile');
  const cand = gpu.buffer(queryBlock * candidates * 8, 'topk candidates');
  const counts = gpu.zeros(queryBlock, 'topk counts');
  const none = fused ? gpu.zeros(4, 'topk no embeddings') : null;
  const gScratch = plan.copyGallery ? gpu.zeros(chunkRows * D, 'topk gallery chunk') : null;
  const qScratch = plan.copyQueries ? gpu.zeros(queryBlock * D, 'topk query block') : null;
  const selfOffset = (opts.selfOffset ?? 0) >>> 0;

  /** The selection; with `fused`, `src` is where the block's queries and the chunk's rows are. */
  const select = (
    entry: 'collect' | 'merge' | 'finish',
    q0: number,
    nq: number,
    g0: number,
    ng: number,
    rescan = false,
    src?: { q: [GPUBuffer, number]; g: [GPUBuffer, number] },
  ) => {
    // (finish, and a merge of nothing, read neither the tile nor the embeddings)
    const embed = src ?? { q: [none!, 0], g: [none!, 0] };
    gpu.dispatch({
      op: `topk.${entry}`,
      shapes,
      shader: 'ops/topk',
      entry,
      constants: { WG, EXCLUDE_SELF: opts.excludeSelf ? 1 : 0 },
      defines: fused ? { FUSED: true } : undefined,
      buffers: fused ? [scores, indices, embed.q[0], cand, counts, embed.g[0]] : [scores, indices, tile!, cand, counts],
      params: packParams([
        q0,
        nq,
        g0,
        ng,
        K,
        selfOffset,
        g0 === 0 && entry === 'merge' ? 1 : 0,
        0xff800000,
        tileStride,
        candidates,
        rescan ? 1 : 0,
        fused ? D / 4 : 0,
        fused ? embed.q[1] / 4 : 0,
        fused ? embed.g[1] / 4 : 0,
        0,
        0,
      ]),
      workgroups: [cdiv(nq, WG)],
    });
  };

  /** Where rows r0..r0+n-1 can be read: the buffer itself (offset) or a scratch copy. */
  const rows = (src: GPUBuffer, scratch: GPUBuffer | null, r0: number, n: number): [GPUBuffer, number] => {
    if (!scratch) return [src, r0 * D];
    gpu.copy(src, scratch, n * D * 4, r0 * D * 4);
    return [scratch, 0];
  };
  /** Similarities of query rows q0.. with gallery rows g0.. into the tile, then the selection. */
  const step = (
    q0: number,
    nq: number,
    [qSrc, qOff]: [GPUBuffer, number],
    g0: number,
    ng: number,
    [gSrc, gOff]: [GPUBuffer, number],
  ) => {
    if (fused) {
      // the first chunk fills the heaps from the merge's own similarities: nothing to collect yet
      if (g0 > 0) {
        gpu.dispatch({
          op: 'topk.fused',
          shapes,
          shader: `topkgen/fused_${tq}x${tg}`,
          constants: { EXCLUDE_SELF: opts.excludeSelf ? 1 : 0 },
          buffers: [scores, indices, cand, counts, qSrc, gSrc],
          params: packParams([q0, nq, g0, ng, K, selfOffset, D / 4, candidates, qOff / 4, gOff / 4, 0, 0]),
          workgroups: [cdiv(cdiv(ng, tg), FUSED_WG), cdiv(cdiv(nq, tq), FUSED_WG)],
        });
      }
      select('merge', q0, nq, g0, ng, g0 === 0, { q: [qSrc, qOff], g: [gSrc, gOff] });
      return;
    }
    if (fewQueries) {
      gpu.dispatch({
        op: 'topk.similarity',
        shapes,
        shader: 'ops/topk.similarity',
        constants: { WG },
        buffers: [tile!, qSrc, gSrc],
        params: packParams([nq, ng, D, tileStride, qOff, gOff, 0, 0]),
        workgroups: [cdiv(cdiv(ng, 4), WG), nq],
      });
    } else {
      matmul(gpu, tile!, qSrc, gSrc, {
        M: nq,
        N: ng,
        K: D,
        transB: true,
        offA: qOff,
        offB: gOff,
        ldc: tileStride,
        op: 'topk.similarity',
      });
    }
    if (g0 > 0) select('collect', q0, nq, g0, ng);
    select('merge', q0, nq, g0, ng, g0 === 0);
  };

  try {
    if (G === 0) {
      select('merge', 0, Q, 0, 0, true); // nothing to search: all slots empty
    } else if (!plan.queriesOuter) {
      for (const [g0, ng] of galleryChunks(G, chunkRows, K)) {
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
        for (const [g0, ng] of galleryChunks(G, chunkRows, K)) {
          step(q0, nq, qRows, g0, ng, rows(gallery, gScratch, g0, ng));
        }
        await gpu.flush();
      }
    }
    select('finish', 0, Q, 0, 0);
    await gpu.flush();
  } finally {
    // flush() has submitted every command that uses the scratch, so it can go.
    for (const b of [tile, cand, counts, none, gScratch, qScratch]) b?.destroy();
  }
}

/**
 * Exact cosine top-K search over a gallery held as embeddings on the host, on the GPU:
 *   queries [Q,D], gallery [G,D] (Float32Array, rows already L2-normalized)
 *   -> indices [Q,K] u32 (TOPK_NONE for empty slots), scores [Q,K] f32
 * per query by descending score, ties to the lower gallery index (as src/ops/topk.ts).
 *
 * Memory is bounded whatever Q and G: the queries are streamed in slabs of `queryRows` rows (each
 * slab's [rows, K] result is read back before the next), the gallery is resident in slabs of at
 * most `galleryRows` rows (one slab, uploaded once, unless it exceeds `galleryBytes` /
 * maxBufferSize; several slabs are merged on the CPU, which keeps the tie order since slabs come
 * in ascending gallery order), and inside each pass topkForward works on a bounded similarity
 * tile. The full Q x G similarity is never materialized. `searchPlan` gives the sizes and the
 * peak GPU bytes; at Q = G = 60,502, D = 768, K = 100 it is ~ 186 MB of gallery (shared with the
 * queries when both are the same array and fit in one slab) + a 64 MiB tile + 48 MB of outputs.
 *
 * Self-search (SOP): pass the same array as queries and gallery with excludeSelf; selfOffset is
 * global (gallery row q + selfOffset is skipped for query q) and is translated per slab.
 */
import type { Gpu } from '../gpu/device';
import { TOPK_NONE, topkForward, topkPlan, type TopkOpts, type TopkPlan } from '../ops/topk';

export interface SearchOpts extends TopkOpts {
  /** Query rows searched per pass (upload + [rows, K] outputs); default 8192. */
  queryRows?: number;
  /** Gallery rows resident at once; default: all that fit in galleryBytes and maxBufferSize. */
  galleryRows?: number;
  /** Budget for one resident gallery slab in bytes; default 1 GiB. */
  galleryBytes?: number;
  /** Called after each pass with (query rows done, Q). */
  onProgress?: (done: number, total: number) => void;
}

export interface SearchPlan {
  queryRows: number;
  galleryRows: number;
  /** The topk plan of a full-size pass. */
  topk: TopkPlan;
  /** Whether the query slab is the resident gallery buffer itself (same array, one slab each). */
  sharedBuffer: boolean;
  /** Largest GPU memory held at once by the search, in bytes, and its parts. */
  peakBytes: number;
  parts: { gallery: number; queries: number; outputs: number; readback: number; tile: number; scratch: number };
}

export interface SearchResult {
  indices: Uint32Array;
  scores: Float32Array;
  plan: SearchPlan;
}

export interface SearchLimits {
  maxBindingBytes: number;
  maxBufferBytes: number;
}

export function searchPlan(
  Q: number,
  G: number,
  D: number,
  K: number,
  limits: SearchLimits,
  opts: SearchOpts = {},
  shared = false,
): SearchPlan {
  const rowBytes = D * 4;
  const maxBinding = opts.maxBindingBytes ?? limits.maxBindingBytes;
  const galleryBudget = Math.min(opts.galleryBytes ?? 2 ** 30, limits.maxBufferBytes);
  const galleryRows = Math.max(1, Math.min(G, opts.galleryRows ?? Infinity, Math.floor(galleryBudget / rowBytes)));
  // The [rows, K] outputs are bound whole by the selection kernel.
  const maxOutRows = Math.floor(limits.maxBindingBytes / (K * 4));
  if (maxOutRows < 1) throw new Error(`search: K=${K} results per query exceed one storage binding`);
  const queryRows = Math.max(
    1,
    Math.min(Q, opts.queryRows ?? 8192, maxOutRows, Math.floor(limits.maxBufferBytes / rowBytes)),
  );
  const sharedBuffer = shared && queryRows >= Q && galleryRows >= G;
  const topk = topkPlan(Math.max(queryRows, 1), Math.max(galleryRows, 1), D, maxBinding, opts, K);
  const parts = {
    gallery: galleryRows * rowBytes,
    queries: sharedBuffer ? 0 : queryRows * rowBytes,
    outputs: 2 * queryRows * K * 4,
    readback: queryRows * K * 4, // one staging buffer at a time (indices, then scores)
    tile: topk.tileStride * topk.queryBlock * 4,
    scratch:
      topk.queryBlock * (topk.candidates * 8 + 4) +
      (topk.copyGallery ? topk.chunkRows * rowBytes : 0) +
      (topk.copyQueries ? topk.queryBlock * rowBytes : 0),
  };
  const peakBytes = Object.values(parts).reduce((a, b) => a + b, 0);
  return { queryRows, galleryRows, topk, sharedBuffer, peakBytes, parts };
}

/** Merges slab results (global indices, ascending slab order) into the running lists, in place. */
function mergeInto(
  idx: Uint32Array,
  sc: Float32Array,
  sIdx: Uint32Array,
  sSc: Float32Array,
  q0: number,
  nq: number,
  K: number,
  g0: number,
): void {
  const ti = new Uint32Array(K);
  const ts = new Float32Array(K);
  for (let r = 0; r < nq; r++) {
    const a0 = (q0 + r) * K,
      b0 = r * K;
    let a = 0,
      b = 0;
    for (let k = 0; k < K; k++) {
      const aOk = a < K && idx[a0 + a] !== TOPK_NONE;
      const bOk = b < K && sIdx[b0 + b] !== TOPK_NONE;
      // Equal scores: the running list holds lower gallery indices, so it goes first.
      if (aOk && (!bOk || sc[a0 + a] >= sSc[b0 + b])) {
        ti[k] = idx[a0 + a];
        ts[k] = sc[a0 + a];
        a++;
      } else if (bOk) {
        ti[k] = sIdx[b0 + b] + g0;
        ts[k] = sSc[b0 + b];
        b++;
      } else {
        ti[k] = TOPK_NONE;
        ts[k] = -Infinity;
      }
    }
    idx.set(ti, a0);
    sc.set(ts, a0);
  }
}

/** Searches query rows q0..q0+nq-1 (in qBuf) against one gallery slab (rows g0..) and merges
 *  the [nq, K] result into the running lists (the first slab is copied in). */
async function slabPass(
  gpu: Gpu,
  res: { indices: Uint32Array; scores: Float32Array },
  out: [GPUBuffer, GPUBuffer],
  qBuf: GPUBuffer,
  q0: number,
  nq: number,
  gBuf: GPUBuffer,
  g0: number,
  ng: number,
  D: number,
  K: number,
  opts: TopkOpts,
  first: boolean,
): Promise<void> {
  await topkForward(gpu, out[0], out[1], qBuf, gBuf, nq, ng, D, K, {
    ...opts,
    selfOffset: q0 + (opts.selfOffset ?? 0) - g0,
  });
  const sIdx = await gpu.readU32(out[0], nq * K);
  const sSc = await gpu.read(out[1], nq * K);
  if (first) {
    res.indices.set(sIdx, q0 * K);
    res.scores.set(sSc, q0 * K);
  } else mergeInto(res.indices, res.scores, sIdx, sSc, q0, nq, K, g0);
}

function topkOptsOf(opts: SearchOpts): TopkOpts {
  return {
    excludeSelf: opts.excludeSelf,
    selfOffset: opts.selfOffset,
    chunkRows: opts.chunkRows,
    queryBlock: opts.queryBlock,
    tileBytes: opts.tileBytes,
    maxBindingBytes: opts.maxBindingBytes,
    candidates: opts.candidates,
  };
}

function checkArgs(queries: Float32Array, Q: number, G: number, D: number, K: number): void {
  if (queries.length !== Q * D) throw new Error(`search: ${queries.length} query values for [${Q}, ${D}]`);
  if (!Number.isInteger(K) || K < 1) throw new Error(`search: K must be an integer >= 1 (got ${K})`);
  if (!Number.isInteger(G) || G < 0) throw new Error(`search: gallery of ${G} rows`);
}

export async function searchTopK(
  gpu: Gpu,
  queries: Float32Array,
  gallery: Float32Array,
  Q: number,
  G: number,
  D: number,
  K: number,
  opts: SearchOpts = {},
): Promise<SearchResult> {
  checkArgs(queries, Q, G, D, K);
  if (gallery.length !== G * D) throw new Error(`search: ${gallery.length} gallery values for [${G}, ${D}]`);
  const lim = gpu.device.limits;
  const plan = searchPlan(
    Q,
    G,
    D,
    K,
    { maxBindingBytes: lim.maxStorageBufferBindingSize, maxBufferBytes: lim.maxBufferSize },
    opts,
    queries === gallery,
  );
  const indices = new Uint32Array(Q * K).fill(TOPK_NONE);
  const scores = new Float32Array(Q * K).fill(-Infinity);
  if (Q === 0) return { indices, scores, plan };
  const { queryRows, galleryRows } = plan;
  const topkOpts = topkOptsOf(opts);
  const out: [GPUBuffer, GPUBuffer] = [
    gpu.buffer(queryRows * K * 4, 'search indices'),
    gpu.buffer(queryRows * K * 4, 'search scores'),
  ];
  const held: GPUBuffer[] = [...out];
  try {
    const nSlabs = Math.max(1, Math.ceil(G / galleryRows));
    for (let s = 0; s < nSlabs; s++) {
      const g0 = s * galleryRows;
      const ng = Math.min(galleryRows, G - g0);
      const gBuf = ng > 0 ? gpu.upload(gallery.subarray(g0 * D, (g0 + ng) * D), 'search gallery') : gpu.zeros(1);
      held.push(gBuf);
      for (let q0 = 0; q0 < Q; q0 += queryRows) {
        const nq = Math.min(queryRows, Q - q0);
        const qBuf = plan.sharedBuffer ? gBuf : gpu.upload(queries.subarray(q0 * D, (q0 + nq) * D), 'search queries');
        try {
          await slabPass(gpu, { indices, scores }, out, qBuf, q0, nq, gBuf, g0, ng, D, K, topkOpts, s === 0);
        } finally {
          if (qBuf !== gBuf) qBuf.destroy();
        }
        opts.onProgress?.(nSlabs === 1 ? q0 + nq : Math.round(((s * Q + q0 + nq) / (nSlabs * Q)) * Q), Q);
      }
      gBuf.destroy();
      held.pop();
    }
  } finally {
    for (const b of held) b.destroy();
  }
  return { indices, scores, plan };
}

/**
 * A gallery kept on the GPU for many searches (the app's Search): uploaded once, in slabs of at
 * most `galleryBytes` (default 1 GiB, and maxBufferSize) each; a search uploads only its query
 * rows. Same results as searchTopK with the same gallery.
 */
export class ResidentGallery {
  private slabs: { buf: GPUBuffer; g0: number; n: number }[] = [];

  constructor(
    readonly gpu: Gpu,
    emb: Float32Array,
    readonly G: number,
    readonly D: number,
    opts: { galleryBytes?: number } = {},
  ) {
    if (emb.length !== G * D) throw new Error(`search: ${emb.length} gallery values for [${G}, ${D}]`);
    const rows = Math.max(
      1,
      Math.floor(Math.min(opts.galleryBytes ?? 2 ** 30, gpu.device.limits.maxBufferSize) / (D * 4)),
    );
    try {
      for (let g0 = 0; g0 < G; g0 += rows) {
        const n = Math.min(rows, G - g0);
        this.slabs.push({ buf: gpu.upload(emb.subarray(g0 * D, (g0 + n) * D), 'resident gallery'), g0, n });
      }
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  /** Bytes held on the GPU. */
  get bytes(): number {
    return this.G * this.D * 4;
  }

  /** Top-K of Q query rows (excludeSelf / selfOffset as in searchTopK, in gallery rows). */
  async search(
    queries: Float32Array,
    Q: number,
    K: number,
    opts: TopkOpts = {},
  ): Promise<{ indices: Uint32Array; scores: Float32Array }> {
    checkArgs(queries, Q, this.G, this.D, K);
    const res = { indices: new Uint32Array(Q * K).fill(TOPK_NONE), scores: new Float32Array(Q * K).fill(-Infinity) };
    if (Q === 0 || this.G === 0) return res;
    const gpu = this.gpu;
    const qBuf = gpu.upload(queries, 'search queries');
    const out: [GPUBuffer, GPUBuffer] = [
      gpu.buffer(Q * K * 4, 'search indices'),
      gpu.buffer(Q * K * 4, 'search scores'),
    ];
    try {
      for (const [s, { buf, g0, n }] of this.slabs.entries()) {
        await slabPass(gpu, res, out, qBuf, 0, Q, buf, g0, n, this.D, K, opts, s === 0);
      }
    } finally {
      for (const b of [qBuf, ...out]) b.destroy();
    }
    return res;
  }

  destroy(): void {
    for (const s of this.slabs) s.buf.destroy();
    this.slabs = [];
  }
}

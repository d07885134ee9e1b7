/**
 * topk: GPU cosine top-K vs the float64 reference. Indices AND scores are compared:
 * - exactly, on quantized vectors (multiples of 1/4, so every f32 dot product is exact) with
 *   duplicate gallery rows: ties must be broken by the lower gallery index;
 * - on random unit vectors: scores within atol 1e-6 + rtol 1e-5, and an index may differ from the
 *   reference only where the two candidates' exact scores are within that tolerance (near-ties
 *   that f32 rounding can legitimately reorder).
 * Also up to 4 queries (their own similarity kernel), K > G (tail filled with 0xFFFFFFFF /
 * -Infinity), excludeSelf (with offsets), forced small
 * gallery chunks / query blocks and the copy path for buffers larger than one binding, all
 * giving bit-identical results to the unchunked run. Each case runs through the tile path and
 * the fused similarity + collect kernel (see `gpuCases`).
 */
import type { Gpu } from '../../src/gpu/device';
import { galleryChunks, TOPK_NONE, topkForward, topkPlan, type TopkOpts } from '../../src/ops/topk';
import * as ref from '../../src/ref/topk';
import { Rng } from '../../src/util/random';
import { expectEqual, f32 } from '../helpers/check';
import { withVariants, type GpuCase, type RefCase } from '../helpers/cases';

const TOL = { atol: 1e-6, rtol: 1e-5 };

function unitRows(rng: Rng, n: number, D: number): Float64Array {
  const x = new Float64Array(n * D);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += (x[i * D + d] = rng.normal()) ** 2;
    for (let d = 0; d < D; d++) x[i * D + d] = Math.fround(x[i * D + d] / Math.sqrt(s));
  }
  return x;
}

/** n rows drawn from a pool of `distinct` rows with entries in {-2..2}/4 (exact dot products). */
function quantizedRows(rng: Rng, n: number, D: number, distinct = n): Float64Array {
  const pool = Float64Array.from({ length: distinct * D }, () => (rng.int(5) - 2) / 4);
  const x = new Float64Array(n * D);
  for (let i = 0; i < n; i++) {
    const r = rng.int(distinct);
    for (let d = 0; d < D; d++) x[i * D + d] = pool[r * D + d];
  }
  return x;
}

interface Result {
  idx: Uint32Array;
  scores: Float32Array;
}

async function runGpu(
  gpu: Gpu,
  queries: Float64Array,
  gallery: Float64Array | null,
  Q: number,
  G: number,
  D: number,
  K: number,
  opts: TopkOpts = {},
): Promise<Result> {
  const gq = gpu.upload(f32(queries));
  const gg = gallery ? gpu.upload(f32(gallery)) : gq; // null: the gallery is the query buffer
  const gi = gpu.buffer(Q * K * 4);
  const gs = gpu.buffer(Q * K * 4);
  await topkForward(gpu, gi, gs, gq, gg, Q, G, D, K, opts);
  const res = { idx: await gpu.readU32(gi), scores: await gpu.read(gs) };
  for (const b of new Set([gq, gg, gi, gs])) b.destroy();
  return res;
}

function runRef(
  queries: Float64Array,
  gallery: Float64Array,
  Q: number,
  G: number,
  D: number,
  K: number,
  opts: TopkOpts = {},
) {
  const idx = new Uint32Array(Q * K);
  const scores = new Float64Array(Q * K);
  ref.topkForward(idx, scores, queries, gallery, Q, G, D, K, opts);
  return { idx, scores };
}

/** Identical indices and scores (-Infinity included). */
function expectSame(a: Result, b: { idx: ArrayLike<number>; scores: ArrayLike<number> }, what: string) {
  for (let i = 0; i < a.idx.length; i++) {
    if (a.idx[i] !== b.idx[i] || !Object.is(a.scores[i], b.scores[i])) {
      throw new Error(
        `${what}: first difference at [${i}]: got (${a.idx[i]}, ${a.scores[i]}), expected (${b.idx[i]}, ${b.scores[i]})`,
      );
    }
  }
}

/** Scores within TOL; a differing index must be a near-tie under the exact (float64) scores. */
function expectNearTies(
  a: Result,
  r: { idx: Uint32Array; scores: Float64Array },
  queries: Float64Array,
  gallery: Float64Array,
  D: number,
  K: number,
  what: string,
) {
  const exact = (q: number, g: number) => {
    let s = 0;
    for (let d = 0; d < D; d++) s += queries[q * D + d] * gallery[g * D + d];
    return s;
  };
  for (let i = 0; i < a.idx.length; i++) {
    const q = Math.floor(i / K);
    if (r.idx[i] === TOPK_NONE) {
      if (a.idx[i] !== TOPK_NONE || a.scores[i] !== -Infinity) {
        throw new Error(`${what}: [${i}] = (${a.idx[i]}, ${a.scores[i]}), expected an empty slot`);
      }
      continue;
    }
    const lim = TOL.atol + TOL.rtol * Math.abs(r.scores[i]);
    if (!(Math.abs(a.scores[i] - r.scores[i]) <= lim)) {
      throw new Error(`${what}: score [${i}] = ${a.scores[i]}, reference ${r.scores[i]}`);
    }
    if (a.idx[i] !== r.idx[i] && !(Math.abs(exact(q, a.idx[i]) - r.scores[i]) <= lim)) {
      throw new Error(`${what}: index [${i}] = ${a.idx[i]}, reference ${r.idx[i]} (not a near-tie)`);
    }
  }
  for (let q = 0; q < a.idx.length / K; q++) {
    const row = a.idx.subarray(q * K, (q + 1) * K).filter((i) => i !== TOPK_NONE);
    if (new Set(row).size !== row.length) throw new Error(`${what}: repeated index in row ${q}: ${[...row]}`);
  }
}

async function exactCase(gpu: Gpu, Q: number, G: number, D: number, K: number, distinct: number, opts: TopkOpts = {}) {
  const rng = new Rng(Q * 1000 + G * 10 + K);
  const queries = quantizedRows(rng, Q, D);
  const gallery = quantizedRows(rng, G, D, distinct);
  const r = runRef(queries, gallery, Q, G, D, K, opts);
  const a = await runGpu(gpu, queries, gallery, Q, G, D, K, opts);
  expectSame(a, r, `topk exact Q=${Q} G=${G} D=${D} K=${K} ${JSON.stringify(opts)}`);
  return a;
}

async function randomCase(gpu: Gpu, Q: number, G: number, D: number, K: number, opts: TopkOpts = {}) {
  const rng = new Rng(Q * 7 + G * 3 + D + K);
  const queries = unitRows(rng, Q, D);
  const gallery = unitRows(rng, G, D);
  const r = runRef(queries, gallery, Q, G, D, K, opts);
  const a = await runGpu(gpu, queries, gallery, Q, G, D, K, opts);
  expectNearTies(a, r, queries, gallery, D, K, `topk random Q=${Q} G=${G} D=${D} K=${K} ${JSON.stringify(opts)}`);
  return { a, queries, gallery };
}

const cases: GpuCase[] = [
  { name: 'topk 1 query, 1 gallery row, K=1', run: (g) => randomCase(g, 1, 1, 37, 1).then(() => {}) },
  { name: 'topk random unit vectors Q=13 G=50 D=37 K=5', run: (g) => randomCase(g, 13, 50, 37, 5).then(() => {}) },
  { name: 'topk random unit vectors Q=37 G=300 D=48 K=20', run: (g) => randomCase(g, 37, 300, 48, 20).then(() => {}) },
  {
    name: 'topk random unit vectors Q=8 G=300 D=768 K=100',
    run: (g) => randomCase(g, 8, 300, 768, 100).then(() => {}),
  },
  {
    name: 'topk up to 4 queries (topk.similarity instead of matmul): random, exact with ties, excludeSelf, chunked',
    run: async (g) => {
      await randomCase(g, 1, 300, 64, 20);
      await randomCase(g, 3, 301, 8, 7, { excludeSelf: true, selfOffset: 150 });
      await exactCase(g, 4, 50, 16, 12, 6, { chunkRows: 7 });
      await exactCase(g, 2, 41, 4, 41, 41, { excludeSelf: true, selfOffset: 3 });
    },
  },
  {
    name: 'topk ties (duplicate gallery rows) broken by lower gallery index, exact',
    run: async (g) => {
      await exactCase(g, 9, 50, 16, 12, 6); // 6 distinct rows among 50: large tie groups
      await exactCase(g, 5, 40, 3, 40, 40); // D=3: many equal dot products between distinct rows
    },
  },
  {
    name: 'topk K > G fills 0xFFFFFFFF / -Infinity',
    run: async (g) => {
      const a = await exactCase(g, 4, 6, 16, 10, 3);
      if (a.idx[9] !== TOPK_NONE || a.scores[9] !== -Infinity) throw new Error('tail not filled');
      await randomCase(g, 3, 5, 37, 9);
    },
  },
  {
    name: 'topk excludeSelf: gallery = query set (same buffer), K = G',
    run: async (g) => {
      const Q = 20,
        D = 16;
      const rng = new Rng(11);
      const x = quantizedRows(rng, Q, D, 8); // duplicates: the self match is not the only top score
      for (const K of [4, Q]) {
        const opts = { excludeSelf: true };
        const r = runRef(x, x, Q, Q, D, K, opts);
        const a = await runGpu(g, x, null, Q, Q, D, K, opts);
        expectSame(a, r, `topk excludeSelf K=${K}`);
        for (let q = 0; q < Q; q++) {
          if (a.idx.subarray(q * K, (q + 1) * K).includes(q)) throw new Error(`row ${q} contains itself`);
        }
        if (K === Q && a.idx[K - 1] !== TOPK_NONE) throw new Error('K = G with excludeSelf: last slot not empty');
      }
    },
  },
  {
    name: 'topk excludeSelf with selfOffset +10 and -5',
    run: async (g) => {
      const G = 30,
        D = 16,
        K = 6;
      const gallery = quantizedRows(new Rng(12), G, D, 10);
      for (const [q0, Q] of [
        [10, 12],
        [0, 25],
      ]) {
        // queries = gallery rows q0.. (offset +q0), or gallery = query rows 5.. (offset -5)
        const offset = q0 === 10 ? 10 : -5;
        const queries =
          offset > 0
            ? gallery.slice(q0 * D, (q0 + Q) * D)
            : Float64Array.from({ length: Q * D }, (_, k) => (k < 5 * D ? 0.25 : gallery[k - 5 * D]));
        const opts = { excludeSelf: true, selfOffset: offset };
        const r = runRef(queries, gallery, Q, G, D, K, opts);
        expectSame(await runGpu(g, queries, gallery, Q, G, D, K, opts), r, `topk selfOffset ${offset}`);
      }
    },
  },
  {
    name: 'topk chunkRows=7 (G=50) and queryBlock=4 equal the unchunked result',
    run: async (g) => {
      const { a: whole, queries, gallery } = await randomCase(g, 13, 50, 36, 9);
      for (const opts of [{ chunkRows: 7 }, { chunkRows: 7, queryBlock: 4 }, { chunkRows: 1, queryBlock: 1 }]) {
        expectSame(await runGpu(g, queries, gallery, 13, 50, 36, 9, opts), whole, `topk ${JSON.stringify(opts)}`);
      }
      await exactCase(g, 13, 50, 16, 9, 5, { chunkRows: 7, queryBlock: 4 });
      await exactCase(g, 13, 50, 16, 9, 5, { chunkRows: 7, excludeSelf: true, selfOffset: 3 });
    },
  },
  {
    name: 'topk gallery in ascending similarity: more newcomers than candidate slots, rows rescanned, exact',
    run: async (g) => {
      // Every row beats all earlier ones (ties in pairs), so each chunk overflows its slots.
      // (2-D vectors padded with zeros to D = 4, which the fused kernel needs.)
      const G = 200,
        D = 4,
        Q = 3;
      const gallery = Float64Array.from({ length: G * D }, (_, k) =>
        k % 4 === 0 ? Math.floor(k / 8) / 64 : k % 4 === 1 ? 0.5 : 0,
      );
      const queries = Float64Array.from([1, 0, 0, 0, 0.5, 0.25, 0, 0, -1, 0.25, 0, 0]);
      for (const opts of [
        { chunkRows: 16, candidates: 3 },
        { chunkRows: 32, candidates: 64 },
        { candidates: 1, excludeSelf: true, selfOffset: 150 },
      ]) {
        for (const K of [1, 5, 40]) {
          const r = runRef(queries, gallery, Q, G, D, K, opts);
          expectSame(
            await runGpu(g, queries, gallery, Q, G, D, K, opts),
            r,
            `topk ascending K=${K} ${JSON.stringify(opts)}`,
          );
        }
      }
    },
  },
  {
    name: 'topk buffers larger than one binding: rows copied to scratch, same result',
    run: async (g) => {
      const D = 36,
        K = 9;
      const { a: whole, queries, gallery } = await randomCase(g, 30, 20, D, K);
      const both = { maxBindingBytes: 7 * D * 4 }; // gallery and queries copied
      const qOnly = { maxBindingBytes: 20 * D * 4 }; // gallery bound whole, query blocks copied
      const p1 = topkPlan(30, 20, D, both.maxBindingBytes);
      const p2 = topkPlan(30, 20, D, qOnly.maxBindingBytes);
      expectEqual(
        [p1.copyGallery, p1.copyQueries, p1.queriesOuter, p1.chunkRows <= 7],
        [true, true, false, true],
        'plan both',
      );
      expectEqual([p2.copyGallery, p2.copyQueries, p2.queriesOuter], [false, true, true], 'plan queries only');
      expectSame(await runGpu(g, queries, gallery, 30, 20, D, K, both), whole, 'topk copy both');
      expectSame(await runGpu(g, queries, gallery, 30, 20, D, K, qOnly), whole, 'topk copy queries');
    },
  },
];

/**
 * Every case through both selections (src/ops/topk.ts `topkFused`): the similarity tile written by
 * matmul then `collect`, and the fused similarity + collect kernel (D a multiple of 4; other D
 * take the tile path either way) with the software adapters' 16x16 tile per invocation; a few
 * with the GPUs' 8x8 as well.
 */
const GPU_TILE_CASES = ['topk random unit vectors Q=37', 'topk chunkRows=7', 'topk gallery in ascending'];
export const gpuCases: GpuCase[] = [
  ...cases.map((c) => ({
    name: `${c.name} [tile]`,
    run: (g: Gpu) => withVariants(g, { topk: 'tile' }, () => c.run(g)),
  })),
  ...cases.map((c) => ({
    name: `${c.name} [fused 16x16]`,
    run: (g: Gpu) => withVariants(g, { topk: 'fused', 'topk.tile': '16x16' }, () => c.run(g)),
  })),
  ...cases
    .filter((c) => GPU_TILE_CASES.some((n) => c.name.startsWith(n)))
    .map((c) => ({
      name: `${c.name} [fused 8x8]`,
      run: (g: Gpu) => withVariants(g, { topk: 'fused', 'topk.tile': '8x8' }, () => c.run(g)),
    })),
];

export const refCases: RefCase[] = [
  {
    name: 'topk gallery chunks: ~2K rows first, then at most the rows seen so far, up to chunkRows',
    run: () => {
      expectEqual(
        galleryChunks(5000, 1024, 100),
        [
          [0, 208],
          [208, 208],
          [416, 416],
          [832, 832],
          [1664, 1024],
          [2688, 1024],
          [3712, 1024],
          [4736, 264],
        ],
        'chunks',
      );
      expectEqual(
        galleryChunks(10, 7, 100),
        [
          [0, 7],
          [7, 3],
        ],
        'small',
      );
      expectEqual(galleryChunks(0, 7, 1), [], 'empty');
    },
  },
  {
    name: 'topk reference: order, ties by lower index, K > G fill, excludeSelf',
    run: () => {
      // 1-D "embeddings": scores are the gallery values times the query value.
      const gallery = Float64Array.from([0.5, 1, 0.5, -1, 1]);
      const r = runRef(Float64Array.from([1]), gallery, 1, 5, 1, 7);
      expectEqual([...r.idx], [1, 4, 0, 2, 3, TOPK_NONE, TOPK_NONE], 'indices');
      expectEqual([...r.scores], [1, 1, 0.5, 0.5, -1, -Infinity, -Infinity], 'scores');
      const s = runRef(Float64Array.from([1, 1]), gallery, 2, 5, 1, 2, { excludeSelf: true, selfOffset: 1 });
      expectEqual([...s.idx], [4, 0, 1, 4], 'excludeSelf'); // query 0 skips 1, query 1 skips 2
    },
  },
  {
    name: 'topk plan: memory bounded at Q = G = 60,502, D = 768, K = 100',
    run: () => {
      const p = topkPlan(60502, 60502, 768, 128 * 2 ** 20);
      const tile = p.chunkRows * p.queryBlock * 4;
      if (tile > 64 * 2 ** 20) throw new Error(`tile ${tile} bytes`);
      expectEqual([p.chunkRows, p.queryBlock, p.copyGallery, p.copyQueries], [4096, 4096, true, true], 'plan');
    },
  },
];

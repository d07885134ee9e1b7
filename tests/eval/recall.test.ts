/**
 * Recall@K (SOP protocol) and the chunked GPU search:
 * - recallAtK on a hand-made case (single-image classes left out of the denominator, empty slots);
 * - bruteForceTopK against a full sort (ties to the lower index);
 * - 500 x 32 embeddings, 37 classes (5 of them single-image): GPU searchTopK neighbour lists equal
 *   the CPU reference (exactly on quantized vectors with many ties; up to near-ties on random unit
 *   vectors), and Recall@K from them equals a direct count from the definition;
 * - tiny query slabs / gallery slabs (merged on the CPU) / tiles / the copy path all give results
 *   bit-identical to one pass; the plan's peak memory at 60,502 x 60,502 x 768 stays bounded;
 * - the JSONL protocol (queries vs the gallery of their positives, by label).
 */
import { afterAll, describe, expect, test } from 'vitest';
import { evaluateRetrieval, labelRecallAtK, validationSet } from '../../src/eval/jsonl';
import { bruteForceTopK, recallAtK } from '../../src/eval/recall';
import { ResidentGallery, searchPlan, searchTopK } from '../../src/eval/search';
import { TOPK_NONE } from '../../src/ops/topk';
import { Rng } from '../../src/util/random';
import { nodeGpu } from '../helpers/node-gpu';

afterAll(async () => (await nodeGpu()).destroy());

const N = 500,
  D = 32,
  KMAX = 100;
const KS = [1, 2, 5, 10, 100];

/** 37 classes: 5 single-image ones, the other 495 images spread over 32 classes (>= 2 each). */
function makeLabels(rng: Rng): Int32Array {
  const labels = new Int32Array(N);
  for (let i = 0; i < 5; i++) labels[i] = i;
  for (let i = 5; i < N; i++) labels[i] = 5 + (i < 5 + 64 ? (i - 5) % 32 : rng.int(32));
  // shuffle so that classes are not contiguous
  for (let i = N - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [labels[i], labels[j]] = [labels[j], labels[i]];
  }
  return labels;
}

/** Class centre + noise, L2-normalized in f32 (recall well between 0 and 1). */
function clusteredUnit(rng: Rng, labels: Int32Array, noise: number): Float32Array {
  const centres = Array.from({ length: 37 }, () => Array.from({ length: D }, () => rng.normal()));
  const x = new Float32Array(N * D);
  for (let i = 0; i < N; i++) {
    let s = 0;
    const row = centres[labels[i]].map((c) => c + noise * rng.normal());
    for (const v of row) s += v * v;
    row.forEach((v, d) => (x[i * D + d] = v / Math.sqrt(s)));
  }
  return x;
}

/** Entries in {-2..2}/4 from a pool of `distinct` rows: exact f32 dot products, many ties. */
function quantized(rng: Rng, n: number, distinct: number): Float32Array {
  const pool = Float32Array.from({ length: distinct * D }, () => (rng.int(5) - 2) / 4);
  const x = new Float32Array(n * D);
  for (let i = 0; i < n; i++) {
    const r = rng.int(distinct);
    x.set(pool.subarray(r * D, (r + 1) * D), i * D);
  }
  return x;
}

/** Neighbours by a full sort (descending float64 score, ascending index), self excluded or not. */
function fullSort(emb: Float32Array, n: number, K: number, excludeSelf = true): Uint32Array {
  const out = new Uint32Array(n * K).fill(TOPK_NONE);
  for (let q = 0; q < n; q++) {
    const c: { g: number; s: number }[] = [];
    for (let g = 0; g < n; g++) {
      if (excludeSelf && g === q) continue;
      let s = 0;
      for (let d = 0; d < D; d++) s += emb[q * D + d] * emb[g * D + d];
      c.push({ g, s });
    }
    c.sort((a, b) => b.s - a.s || a.g - b.g);
    for (let k = 0; k < Math.min(K, c.length); k++) out[q * K + k] = c[k].g;
  }
  return out;
}

/** Recall straight from the definition. */
function definitionRecall(nb: Uint32Array, labels: Int32Array, K: number, Kmax: number): number {
  let valid = 0,
    hits = 0;
  for (let q = 0; q < labels.length; q++) {
    const others = labels.filter((l, i) => i !== q && l === labels[q]).length;
    if (others === 0) continue;
    valid++;
    const top = Array.from(nb.subarray(q * Kmax, q * Kmax + K)).filter((g) => g !== TOPK_NONE);
    if (top.some((g) => labels[g] === labels[q])) hits++;
  }
  return hits / valid;
}

describe('recallAtK', () => {
  test('hand-made case: single-image classes not counted, empty slots, K beyond the hits', () => {
    // classes: 0 {0,1}, 1 {2,3,4}, 2 {5} (single: not a valid query)
    const labels = Int32Array.from([0, 0, 1, 1, 1, 2]);
    const X = TOPK_NONE;
    const nb = Uint32Array.from([
      1,
      2,
      3, // q0: hit at rank 0
      2,
      3,
      0, // q1: hit at rank 2
      5,
      0,
      1, // q2: miss within 3
      4,
      X,
      X, // q3: hit at rank 0, then empty
      5,
      1,
      3, // q4: hit at rank 2
      0,
      1,
      2, // q5: single-image class, not counted even though it "hits" nothing
    ]);
    const r = recallAtK(nb, labels, [3, 1, 2]);
    expect(r.numQueries).toBe(6);
    expect(r.numValidQueries).toBe(5);
    expect(r.recall).toEqual({ 'recall@1': 2 / 5, 'recall@2': 2 / 5, 'recall@3': 4 / 5 });
    expect(r.hits).toEqual({ 'recall@1': 2, 'recall@2': 2, 'recall@3': 4 });
    expect(Object.keys(r.recall)).toEqual(['recall@1', 'recall@2', 'recall@3']);
  });

  test('bad arguments are refused', () => {
    const labels = Int32Array.from([0, 0]);
    expect(() => recallAtK(Uint32Array.from([1, 0]), labels, [2])).toThrow(/K=2 exceeds the 1 neighbours/);
    expect(() => recallAtK(Uint32Array.from([0, 0]), labels, [1])).toThrow(/query 0 is its own neighbour/);
    expect(() => recallAtK(Uint32Array.from([1, 0, 1]), labels, [1])).toThrow(/not a multiple of 2 queries/);
    expect(() => recallAtK(Uint32Array.from([1, 0]), labels, [0])).toThrow(/0 is not a positive integer/);
    expect(() => recallAtK(Uint32Array.from([1, 7]), labels, [1])).toThrow(/neighbour 7 of query 1 is outside/);
  });

  test('no valid query gives 0, not NaN', () => {
    expect(recallAtK(Uint32Array.from([1, 0]), Int32Array.from([3, 4]), [1]).recall['recall@1']).toBe(0);
  });
});

describe('bruteForceTopK', () => {
  test('equals a full sort, ties to the lower index, K > N-1 padded', () => {
    const rng = new Rng(3);
    const n = 60;
    const x = quantized(rng, n, 9);
    const K = 70; // > n - 1: the tail is empty
    const { indices, scores } = bruteForceTopK(x, n, D, K, true);
    expect(Array.from(indices)).toEqual(Array.from(fullSort(x, n, K)));
    expect(indices[K - 1]).toBe(TOPK_NONE);
    expect(scores[K - 1]).toBe(-Infinity);
    const withSelf = bruteForceTopK(x, n, D, 5, false);
    expect(Array.from(withSelf.indices)).toEqual(Array.from(fullSort(x, n, 5, false)));
  });
});

describe('GPU search vs the CPU reference (500 x 32, 37 classes)', () => {
  const rng = new Rng(2024);
  const labels = makeLabels(rng);

  test('labels have 37 classes, 5 of them single-image', () => {
    const count = new Map<number, number>();
    for (const l of labels) count.set(l, (count.get(l) ?? 0) + 1);
    expect(count.size).toBe(37);
    expect([...count.values()].filter((c) => c === 1).length).toBe(5);
  });

  test('quantized vectors (exact scores, many ties): identical neighbour lists and Recall@K', async () => {
    const gpu = await nodeGpu();
    const x = quantized(new Rng(7), N, 40);
    const cpu = bruteForceTopK(x, N, D, KMAX, true);
    const res = await searchTopK(gpu, x, x, N, N, D, KMAX, { excludeSelf: true });
    expect(res.plan.sharedBuffer).toBe(true);
    expect(Array.from(res.indices)).toEqual(Array.from(cpu.indices));
    expect(Array.from(res.scores)).toEqual(Array.from(cpu.scores, Math.fround));
    const r = recallAtK(res.indices, labels, KS);
    for (const K of KS) expect(r.recall[`recall@${K}`]).toBe(definitionRecall(cpu.indices, labels, K, KMAX));
    expect(r.numValidQueries).toBe(N - 5);
  });

  test('clustered random unit vectors: same lists up to near-ties, same Recall@K', async () => {
    const gpu = await nodeGpu();
    const x = clusteredUnit(rng, labels, 1.5);
    const cpu = bruteForceTopK(x, N, D, KMAX, true);
    const res = await searchTopK(gpu, x, x, N, N, D, KMAX, { excludeSelf: true });
    let differ = 0;
    for (let i = 0; i < N * KMAX; i++) {
      expect(Math.abs(res.scores[i] - cpu.scores[i])).toBeLessThanOrEqual(1e-6);
      if (res.indices[i] !== cpu.indices[i]) {
        differ++;
        // a swapped pair must be a near-tie in exact arithmetic
        const q = Math.floor(i / KMAX);
        let s = 0;
        for (let d = 0; d < D; d++) s += x[q * D + d] * x[res.indices[i] * D + d];
        expect(Math.abs(s - cpu.scores[i])).toBeLessThanOrEqual(1e-6);
      }
    }
    expect(differ).toBeLessThan(20);
    const g = recallAtK(res.indices, labels, KS);
    const c = recallAtK(cpu.indices, labels, KS);
    expect(g.recall).toEqual(c.recall);
    for (const K of KS) expect(c.recall[`recall@${K}`]).toBe(definitionRecall(cpu.indices, labels, K, KMAX));
    // not a degenerate case
    expect(c.recall['recall@1']).toBeGreaterThan(0.2);
    expect(c.recall['recall@1']).toBeLessThan(0.95);
    console.log(`500 x 32, 37 classes: ${JSON.stringify(c.recall)}, ${differ} near-tie swaps`);
  });

  test('tiny query slabs, gallery slabs, tiles and the copy path equal one pass bit for bit', async () => {
    const gpu = await nodeGpu();
    const n = 97,
      K = 13;
    const x = clusteredUnit(new Rng(5), makeLabels(new Rng(6)), 1.0).subarray(0, n * D);
    const whole = await searchTopK(gpu, x, x, n, n, D, K, { excludeSelf: true });
    for (const opts of [
      { queryRows: 7 },
      { galleryRows: 11 },
      { queryRows: 10, galleryRows: 20, chunkRows: 3, queryBlock: 2 },
      { galleryRows: 50, maxBindingBytes: 10 * D * 4 }, // topk copies rows into scratch
      { queryRows: 25, galleryRows: 9, chunkRows: 2 },
    ]) {
      const r = await searchTopK(gpu, x, x, n, n, D, K, { excludeSelf: true, ...opts });
      expect(Array.from(r.indices), JSON.stringify(opts)).toEqual(Array.from(whole.indices));
      expect(Array.from(r.scores), JSON.stringify(opts)).toEqual(Array.from(whole.scores));
    }
    // queries distinct from the gallery, selfOffset across slabs: queries = gallery rows 30..59
    const q = x.slice(30 * D, 60 * D);
    const ref = bruteForceTopK(x, n, D, K, true);
    const r = await searchTopK(gpu, q, x, 30, n, D, K, {
      excludeSelf: true,
      selfOffset: 30,
      queryRows: 8,
      galleryRows: 25,
    });
    expect(r.plan.sharedBuffer).toBe(false);
    for (let i = 0; i < 30 * K; i++) expect(Math.abs(r.scores[i] - ref.scores[30 * K + i])).toBeLessThanOrEqual(1e-6);
  });

  test('a resident gallery (one or several slabs) answers queries as searchTopK does, bit for bit', async () => {
    const gpu = await nodeGpu();
    const n = 97,
      K = 13;
    const x = clusteredUnit(new Rng(5), makeLabels(new Rng(6)), 1.0).subarray(0, n * D);
    const q = x.slice(40 * D, 43 * D); // gallery rows 40..42 as queries, themselves left out
    const want = await searchTopK(gpu, q, x, 3, n, D, K, { excludeSelf: true, selfOffset: 40 });
    for (const galleryBytes of [undefined, 30 * D * 4]) {
      const g = new ResidentGallery(gpu, x, n, D, { galleryBytes });
      const live = gpu.memory.live;
      for (let rep = 0; rep < 2; rep++) {
        const r = await g.search(q, 3, K, { excludeSelf: true, selfOffset: 40 });
        expect(Array.from(r.indices)).toEqual(Array.from(want.indices));
        expect(Array.from(r.scores)).toEqual(Array.from(want.scores));
      }
      expect(gpu.memory.live).toBe(live); // nothing left behind per query
      g.destroy();
    }
  });

  test('K larger than the gallery: tails empty', async () => {
    const gpu = await nodeGpu();
    const x = quantized(new Rng(8), 6, 3);
    const r = await searchTopK(gpu, x, x, 6, 6, D, 8, { excludeSelf: true, galleryRows: 4 });
    const ref = bruteForceTopK(x, 6, D, 8, true);
    expect(Array.from(r.indices)).toEqual(Array.from(ref.indices));
    expect(r.indices[5]).toBe(TOPK_NONE);
    expect(r.indices[7]).toBe(TOPK_NONE);
  });
});

describe('searchPlan', () => {
  test('60,502 x 60,502 x 768, K=100: bounded peak memory', () => {
    const lim = { maxBindingBytes: 2 ** 27, maxBufferBytes: 2 ** 28 };
    const p = searchPlan(60502, 60502, 768, 100, lim, {}, true);
    expect(p.galleryRows).toBe(60502);
    expect(p.queryRows).toBe(8192);
    expect(p.topk.copyGallery).toBe(true); // 186 MB gallery > one 128 MiB binding
    const full = 60502 * 60502 * 4;
    console.log(
      `SOP search plan: peak ${(p.peakBytes / 1e6).toFixed(1)} MB (full similarity would be ${(full / 1e9).toFixed(1)} GB)`,
      p.parts,
    );
    expect(p.peakBytes).toBeLessThan(320e6);
    // a small maxBufferSize: the gallery is split into resident slabs
    const small = searchPlan(60502, 60502, 768, 100, { maxBindingBytes: 2 ** 26, maxBufferBytes: 2 ** 26 }, {}, true);
    expect(small.galleryRows).toBe(Math.floor(2 ** 26 / (768 * 4)));
    expect(small.peakBytes).toBeLessThan(200e6);
  });
});

describe('JSONL protocol (queries vs the gallery of their positives)', () => {
  test('labelRecallAtK: hits by label, every query counted', () => {
    const nb = Uint32Array.from([1, 0, 0, 2, 2, 1]); // K=2
    const r = labelRecallAtK(nb, Int32Array.from([5, 6, 9]), Int32Array.from([5, 5, 6]), [1, 2]);
    // q0 (5): gallery 1 is 5 -> hit at 1; q1 (6): 0 (5), 2 (6) -> hit at 2; q2 (9): no gallery item
    expect(r.recall).toEqual({ 'recall@1': 1 / 3, 'recall@2': 2 / 3 });
    expect(r.numQueriesWithoutPositive).toBe(1);
  });

  test('validationSet: distinct positives, labels or per-positive classes', () => {
    const recs = [
      { query: 'a', positive: 'p', label: null },
      { query: 'b', positive: 'q', label: null },
      { query: 'c', positive: 'p', label: null },
    ];
    const s = validationSet(recs);
    expect(s.galleryPaths).toEqual(['p', 'q']);
    expect(Array.from(s.queryLabels)).toEqual([0, 1, 0]);
    expect(Array.from(validationSet(recs.map((r, i) => ({ ...r, label: 10 + i }))).galleryLabels)).toEqual([10, 11]);
    expect(() => validationSet([{ ...recs[0], label: 1 }, recs[1]])).toThrow(/1 of 2 have a label/);
  });

  test('evaluateRetrieval on the GPU equals the CPU count', async () => {
    const gpu = await nodeGpu();
    const rng = new Rng(9);
    const labels = makeLabels(rng).subarray(0, 120);
    const x = clusteredUnit(rng, makeLabels(new Rng(10)), 1.0);
    const q = x.subarray(0, 120 * D);
    const g = x.subarray(120 * D, 300 * D);
    const gl = Int32Array.from({ length: 180 }, (_, i) => labels[i % 120]);
    const r = await evaluateRetrieval(gpu, q, labels, g, gl, D, [1, 10]);
    // CPU: brute force over the gallery
    let h1 = 0,
      h10 = 0;
    for (let i = 0; i < 120; i++) {
      const s = Array.from({ length: 180 }, (_, j) => {
        let t = 0;
        for (let d = 0; d < D; d++) t += q[i * D + d] * g[j * D + d];
        return { j, t };
      }).sort((a, b) => b.t - a.t || a.j - b.j);
      const first = s.findIndex((e) => gl[e.j] === labels[i]);
      if (first === 0) h1++;
      if (first >= 0 && first < 10) h10++;
    }
    expect(r.recall).toEqual({ 'recall@1': h1 / 120, 'recall@10': h10 / 120 });
  });
});

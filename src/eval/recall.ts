/**
 * Recall@K for image-to-image retrieval where every image is a query and the gallery is the same
 * set (Stanford Online Products protocol, as vembed-factory's benchmark computes it):
 *   neighbours [Q, Kmax] u32: per query, gallery indices by descending similarity, the query itself
 *                             already excluded (TOPK_NONE marks an empty slot)
 *   labels     [Q]           class of each image (the gallery is the query set, so a neighbour's
 *                             class is labels[neighbour])
 * A query hits at K when one of its first K neighbours has its class. The denominator counts only
 * the queries whose class has at least 2 images: a query alone in its class cannot hit, and
 * vembed-factory leaves it out (its `valid` mask). recall@K = hits / valid queries (0 when none).
 *
 * Also the CPU brute-force search used as the reference for the GPU search:
 *   bruteForceTopK(emb [Q,D], Q, D, K, excludeSelf) -> indices [Q,K] u32, scores [Q,K] f64
 * scoring in float64, ordered by (descending score, ascending index): ties go to the lower index,
 * as the GPU top-K does.
 */
import { TOPK_NONE } from '../ops/topk';

export type Labels = Int32Array | Uint32Array | ArrayLike<number>;

export interface RecallResult {
  /** `recall@K` -> fraction of valid queries with a hit in their first K neighbours. */
  recall: Record<string, number>;
  /** Hits per `recall@K` key (numerators). */
  hits: Record<string, number>;
  numQueries: number;
  /** Queries whose class has >= 2 images (the denominator). */
  numValidQueries: number;
}

/** Validates a list of K values (positive integers); returns them sorted and deduplicated. */
export function parseKs(ks: number[], what = 'K'): number[] {
  if (ks.length === 0) throw new Error(`${what}: no values`);
  for (const k of ks) {
    if (!Number.isInteger(k) || k < 1) throw new Error(`${what}: ${k} is not a positive integer`);
  }
  return [...new Set(ks)].sort((a, b) => a - b);
}

/** Images per class, as a count for each item. */
export function classSizes(labels: Labels): Uint32Array {
  const count = new Map<number, number>();
  for (let i = 0; i < labels.length; i++) count.set(labels[i], (count.get(labels[i]) ?? 0) + 1);
  const out = new Uint32Array(labels.length);
  for (let i = 0; i < labels.length; i++) out[i] = count.get(labels[i])!;
  return out;
}

export function recallAtK(neighbours: Uint32Array, labels: Labels, ks: number[]): RecallResult {
  const Q = labels.length;
  const Kmax = Q === 0 ? 0 : neighbours.length / Q;
  if (!Number.isInteger(Kmax)) {
    throw new Error(`recallAtK: ${neighbours.length} neighbours is not a multiple of ${Q} queries`);
  }
  const sorted = parseKs(ks, 'recallAtK');
  if (Q > 0 && sorted[sorted.length - 1] > Kmax) {
    throw new Error(`recallAtK: K=${sorted[sorted.length - 1]} exceeds the ${Kmax} neighbours per query`);
  }
  const sizes = classSizes(labels);
  const hits = new Array<number>(sorted.length).fill(0);
  let valid = 0;
  for (let q = 0; q < Q; q++) {
    if (sizes[q] < 2) continue;
    valid++;
    // Rank of the first neighbour of the same class; a hit for every K > rank.
    let first = -1;
    for (let k = 0; k < Kmax; k++) {
      const g = neighbours[q * Kmax + k];
      if (g === TOPK_NONE) break; // empty slots are only at the end
      if (g >= Q) throw new Error(`recallAtK: neighbour ${g} of query ${q} is outside the ${Q} images`);
      if (g === q) throw new Error(`recallAtK: query ${q} is its own neighbour (search with the query excluded)`);
      if (labels[g] === labels[q]) {
        first = k;
        break;
      }
    }
    if (first < 0) continue;
    sorted.forEach((K, i) => {
      if (first < K) hits[i]++;
    });
  }
  const recall: Record<string, number> = {};
  const hitRec: Record<string, number> = {};
  sorted.forEach((K, i) => {
    recall[`recall@${K}`] = valid > 0 ? hits[i] / valid : 0;
    hitRec[`recall@${K}`] = hits[i];
  });
  return { recall, hits: hitRec, numQueries: Q, numValidQueries: valid };
}

/**
 * CPU brute-force top-K of every row of `emb` [Q,D] against all rows (float64 dot products),
 * optionally excluding the row itself; ties to the lower index; TOPK_NONE / -Infinity past the
 * end. O(Q^2 D): a reference for tests, not for 60k images.
 */
export function bruteForceTopK(
  emb: ArrayLike<number>,
  Q: number,
  D: number,
  K: number,
  excludeSelf: boolean,
): { indices: Uint32Array; scores: Float64Array } {
  if (emb.length !== Q * D) throw new Error(`bruteForceTopK: ${emb.length} values for [${Q}, ${D}]`);
  const indices = new Uint32Array(Q * K).fill(TOPK_NONE);
  const scores = new Float64Array(Q * K).fill(-Infinity);
  for (let q = 0; q < Q; q++) {
    const base = q * K;
    let n = 0; // filled slots
    for (let g = 0; g < Q; g++) {
      if (excludeSelf && g === q) continue;
      let s = 0;
      for (let d = 0; d < D; d++) s += emb[q * D + d] * emb[g * D + d];
      if (Number.isNaN(s)) continue;
      // g ascends, so an equal score never displaces an earlier (lower) index.
      if (n === K && !(s > scores[base + K - 1])) continue;
      let k = n < K ? n++ : K - 1;
      while (k > 0 && s > scores[base + k - 1]) {
        scores[base + k] = scores[base + k - 1];
        indices[base + k] = indices[base + k - 1];
        k--;
      }
      scores[base + k] = s;
      indices[base + k] = g;
    }
  }
  return { indices, scores };
}

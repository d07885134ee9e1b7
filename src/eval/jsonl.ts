/**
 * Evaluation on a JSONL split (records {query_image, positive, label?}), e.g. the trainer's
 * per-epoch validation. A DIFFERENT PROTOCOL from SOP's (./recall.ts): here the queries are the
 * records' query images and the gallery is the set of their positives (distinct paths):
 *   queries [Q, D] with labels [Q], gallery [G, D] with labels [G]
 * A query hits at K when one of its top K gallery items has the query's label. Every query counts
 * in the denominator (as vembed-factory's compute_recall_at_k, a mean over all queries); a query
 * whose label has no gallery item cannot hit and is counted in `numQueriesWithoutPositive`.
 * Records without a label: each distinct positive path is its own class, so a query hits when its
 * own positive is in its top K (the usual paired-retrieval recall).
 * Unlike vembed-factory, nothing is excluded from the gallery by position (its exclude_diagonal,
 * applied when Q = G, would hide each query's own positive); pass excludeSelf only when the
 * gallery really is the query set.
 *
 *   labelRecallAtK(neighbours [Q,Kmax], queryLabels, galleryLabels, ks)       CPU counting
 *   evaluateRetrieval(gpu, queries, queryLabels, gallery, galleryLabels, D, ks) GPU search + counting
 *   validationSet(records)       query paths/labels and the gallery of distinct positives
 *   jsonlRecall(gpu, records, embed, ks)  embeds both sides (with the caller's decoding) and evaluates
 *   validateJsonl(vit, pp, records, load, opts)  the same with `load`: the trainer's hook
 */
import type { RgbImage } from '../data/image';
import type { Preprocessor } from '../data/preprocess';
import type { Gpu } from '../gpu/device';
import type { Pooling } from '../model/embed';
import type { Vit } from '../model/vit';
import { TOPK_NONE } from '../ops/topk';
import { embedImages, type EmbedImagesResult } from './embed';
import { l2normalizeRows } from '../model/embed';
import { parseKs, type Labels } from './recall';
import { searchTopK, type SearchOpts } from './search';

export interface LabelRecallResult {
  /** `recall@K` -> fraction of all queries with a same-label gallery item in their top K. */
  recall: Record<string, number>;
  hits: Record<string, number>;
  numQueries: number;
  /** Queries whose label no gallery item has (they count, and never hit). */
  numQueriesWithoutPositive: number;
}

export function labelRecallAtK(
  neighbours: Uint32Array,
  queryLabels: Labels,
  galleryLabels: Labels,
  ks: number[],
): LabelRecallResult {
  const Q = queryLabels.length;
  const G = galleryLabels.length;
  const Kmax = Q === 0 ? 0 : neighbours.length / Q;
  if (!Number.isInteger(Kmax))
    throw new Error(`labelRecallAtK: ${neighbours.length} neighbours is not a multiple of ${Q} queries`);
  const sorted = parseKs(ks, 'labelRecallAtK');
  if (Q > 0 && sorted[sorted.length - 1] > Kmax) {
    throw new Error(`labelRecallAtK: K=${sorted[sorted.length - 1]} exceeds the ${Kmax} neighbours per query`);
  }
  const inGallery = new Set<number>();
  for (let g = 0; g < G; g++) inGallery.add(galleryLabels[g]);
  const hits = new Array<number>(sorted.length).fill(0);
  let without = 0;
  for (let q = 0; q < Q; q++) {
    if (!inGallery.has(queryLabels[q])) {
      without++;
      continue;
    }
    let first = -1;
    for (let k = 0; k < Kmax; k++) {
      const g = neighbours[q * Kmax + k];
      if (g === TOPK_NONE) break;
      if (g >= G) throw new Error(`labelRecallAtK: neighbour ${g} of query ${q} is outside the ${G} gallery items`);
      if (galleryLabels[g] === queryLabels[q]) {
        first = k;
        break;
      }
    }
    if (first >= 0)
      sorted.forEach((K, i) => {
        if (first < K) hits[i]++;
      });
  }
  const recall: Record<string, number> = {};
  const hitRec: Record<string, number> = {};
  sorted.forEach((K, i) => {
    recall[`recall@${K}`] = Q > 0 ? hits[i] / Q : 0;
    hitRec[`recall@${K}`] = hits[i];
  });
  return { recall, hits: hitRec, numQueries: Q, numQueriesWithoutPositive: without };
}

/** GPU search (rows L2-normalized here, on copies) then label recall. */
export async function evaluateRetrieval(
  gpu: Gpu,
  queries: Float32Array,
  queryLabels: Labels,
  gallery: Float32Array,
  galleryLabels: Labels,
  D: number,
  ks: number[],
  opts: SearchOpts = {},
): Promise<LabelRecallResult> {
  const Q = queryLabels.length;
  const G = galleryLabels.length;
  if (queries.length !== Q * D)
    throw new Error(`evaluateRetrieval: ${queries.length} query values for ${Q} labels x D=${D}`);
  if (gallery.length !== G * D)
    throw new Error(`evaluateRetrieval: ${gallery.length} gallery values for ${G} labels x D=${D}`);
  const K = Math.max(...parseKs(ks, 'evaluateRetrieval'));
  const q = l2normalizeRows(queries.slice(), Q, D);
  const g = queries === gallery ? q : l2normalizeRows(gallery.slice(), G, D);
  const { indices } = await searchTopK(gpu, q, g, Q, G, D, K, opts);
  return labelRecallAtK(indices, queryLabels, galleryLabels, ks);
}

export interface ValidationSet {
  queryPaths: string[];
  queryLabels: Int32Array;
  galleryPaths: string[];
  galleryLabels: Int32Array;
}

/**
 * Queries = every record's query image; gallery = the distinct positive paths (first record wins
 * the label of a path). Labels: the record's `label`, or, when records carry none, the gallery
 * index of the record's positive (each positive is its own class). Labels must be all present or
 * all absent.
 */
export function validationSet(
  records: readonly { query: string; positive: string; label: number | null }[],
): ValidationSet {
  const labelled = records.filter((r) => r.label !== null && r.label !== undefined).length;
  if (labelled !== 0 && labelled !== records.length) {
    throw new Error(
      `validation records: ${labelled} of ${records.length} have a label; give a label to all of them or to none`,
    );
  }
  const galleryIndex = new Map<string, number>();
  const galleryPaths: string[] = [];
  const gl: number[] = [];
  for (const r of records) {
    if (galleryIndex.has(r.positive)) continue;
    galleryIndex.set(r.positive, galleryPaths.length);
    gl.push(labelled ? r.label! : galleryPaths.length);
    galleryPaths.push(r.positive);
  }
  return {
    queryPaths: records.map((r) => r.query),
    queryLabels: Int32Array.from(records, (r) => (labelled ? r.label! : galleryIndex.get(r.positive)!)),
    galleryPaths,
    galleryLabels: Int32Array.from(gl),
  };
}

export interface ValidateOptions extends SearchOpts {
  /** Default [1, 10, 100]. */
  ks?: number[];
  /** Images per GPU batch; default 32. */
  batchSize?: number;
  pooling?: Pooling;
  /** Unreadable images (skipped: their queries do not count, their gallery items are absent). */
  onSkipped?: (path: string, error: string) => void;
}

/** Embeds a list of images (embedImages with the caller's decoding, batch size and progress). */
export type EmbedList = (paths: string[]) => Promise<EmbedImagesResult>;

/**
 * The JSONL protocol on `records`: every distinct image embedded once by `embed` (queries and
 * positives may overlap), then the queries searched against the gallery of positives. Unreadable
 * images are skipped: their queries do not count, their gallery items are absent.
 * Returns the recall, the embedding result and how many distinct images were listed.
 */
export async function jsonlRecall(
  gpu: Gpu,
  records: readonly { query: string; positive: string; label: number | null }[],
  embed: EmbedList,
  ks: number[],
  opts: SearchOpts = {},
): Promise<{ res: LabelRecallResult; embedded: EmbedImagesResult; images: number }> {
  const set = validationSet(records);
  const all = [...new Set([...set.queryPaths, ...set.galleryPaths])];
  const r = await embed(all);
  const row = new Map<string, number>(r.kept.map((i, k) => [all[i], k]));
  const pick = (paths: string[], labels: Int32Array) => {
    const idx: number[] = [];
    const lab: number[] = [];
    paths.forEach((p, i) => {
      const k = row.get(p);
      if (k !== undefined) {
        idx.push(k);
        lab.push(labels[i]);
      }
    });
    const emb = new Float32Array(idx.length * r.D);
    idx.forEach((k, i) => emb.set(r.emb.subarray(k * r.D, (k + 1) * r.D), i * r.D));
    return { emb, labels: Int32Array.from(lab) };
  };
  const q = pick(set.queryPaths, set.queryLabels);
  const g = pick(set.galleryPaths, set.galleryLabels);
  const res = await evaluateRetrieval(gpu, q.emb, q.labels, g.emb, g.labels, r.D, ks, opts);
  return { res, embedded: r, images: all.length };
}

/**
 * Embeds the validation records with the current weights and returns
 * {`recall@K`..., num_queries, num_queries_without_positive}: the trainer's per-epoch metrics.
 */
export async function validateJsonl(
  vit: Vit,
  pp: Preprocessor,
  records: readonly { query: string; positive: string; label: number | null }[],
  load: (path: string) => Promise<RgbImage>,
  opts: ValidateOptions = {},
): Promise<Record<string, number>> {
  const embed: EmbedList = async (paths) => {
    const r = await embedImages(vit, pp, paths, load, { batchSize: opts.batchSize ?? 32, pooling: opts.pooling });
    for (const s of r.skipped) opts.onSkipped?.(s.path, s.error);
    return r;
  };
  const { res } = await jsonlRecall(vit.gpu, records, embed, opts.ks ?? [1, 10, 100], opts);
  return { ...res.recall, num_queries: res.numQueries, num_queries_without_positive: res.numQueriesWithoutPositive };
}

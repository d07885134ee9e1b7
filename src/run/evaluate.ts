/**
 * Recall@K of one model, the same code for the `vembed` CLI and the app's engine worker:
 *   SOP   (Ebay_test.txt)  every image is embedded and searched against all the others, itself
 *                          excluded; recall counts queries whose class has >= 2 images
 *                          (src/eval/recall.ts): sopSearch, used by `vembed eval sop` and here
 *   JSONL (val.jsonl)      the records' queries against the gallery of their distinct positives,
 *                          a hit when a top-K item has the query's label (src/eval/jsonl.ts
 *                          jsonlRecall, as the trainer's per-epoch validation)
 * measureRecall runs either protocol on a dataset's evaluation split (./dataset.ts) and returns
 * the app's RecallSet; evaluateModels is the app's Evaluate (zero-shot vs fine-tuned). Images come through a Preparer (decoded here, or in the browser's decode
 * pool), so the code runs in Node and in a worker alike.
 *   emb [N, D] f32, L2-normalized rows; the search is exact cosine top-K on the GPU.
 */
import type { Preprocessor } from '../data/preprocess';
import { embedImages, type EmbedImagesResult, type PreparedImage } from '../eval/embed';
import { jsonlRecall } from '../eval/jsonl';
import { recallAtK } from '../eval/recall';
import { searchTopK, type SearchOpts, type SearchPlan } from '../eval/search';
import type { Gpu } from '../gpu/device';
import { checkpointPreprocessor, type LoadedCheckpoint } from '../model/load';
import { Vit } from '../model/vit';
import type { EvalSplit } from './dataset';

/** The app's Ks (the CLI's default --topk). */
export const RECALL_KS = [1, 10, 100];
const EMBED_BATCH = 64;

export type Progress = (message: string, done: number, total: number) => void;

/** How a model's images become pixels: `(pp) => (path) => pixels` (the decode pool, or a decoder here). */
export type Preparer = (pp: Preprocessor) => (path: string) => Promise<PreparedImage>;

/** One model's Recall@K on a dataset's evaluation split, as the app shows it. */
export interface RecallSet {
  model: string;
  /** 'recall@1' ... */
  recall: Record<string, number>;
  queries: number;
  images: number;
  seconds: number;
  /** Images embedded per second of the whole embedding pass (decode, preprocess, GPU). */
  imagesPerSec: number;
  /** Seconds of the all-pairs / gallery search. */
  searchSeconds: number;
  /** Images that could not be read (left out), the first 20 of them. */
  skipped: number;
  skippedFirst: { path: string; error: string }[];
}

/** Evaluate in the app: zero-shot vs fine-tuned on one evaluation split. */
export interface EvalResult {
  protocol: string;
  zeroShot: RecallSet | null;
  fineTuned: RecallSet | null;
  /** Why there is no fine-tuned number (no run yet), when there is none. */
  note: string | null;
}

/** The SOP protocol's search and counting: rows of `emb` [N, D] (L2-normalized), class labels [N]. */
export interface SopSearchResult {
  recall: Record<string, number>;
  numValidQueries: number;
  plan: SearchPlan;
  /** Seconds of the GPU search. */
  seconds: number;
}

/** Every row against all the others (itself excluded), then Recall@K by class (`ks` ascending). */
export async function sopSearch(
  gpu: Gpu,
  emb: Float32Array,
  labels: Int32Array,
  N: number,
  D: number,
  ks: number[],
  opts: SearchOpts = {},
): Promise<SopSearchResult> {
  const K = Math.max(...ks);
  const t0 = performance.now();
  const res = await searchTopK(gpu, emb, emb, N, N, D, K, { ...opts, excludeSelf: true, selfOffset: 0 });
  const seconds = (performance.now() - t0) / 1000;
  const rec = recallAtK(res.indices, labels, ks);
  return { recall: rec.recall, numValidQueries: rec.numValidQueries, plan: res.plan, seconds };
}

const count = (n: number) => n.toLocaleString('en-US');

/** embedImages with progress lines (images/s, ETA) and the pixels from `prepare`. */
export async function embedAll(
  vit: Vit,
  pp: Preprocessor,
  paths: string[],
  prepare: Preparer,
  what: string,
  onProgress: Progress,
): Promise<EmbedImagesResult & { seconds: number }> {
  const t0 = performance.now();
  const r = await embedImages(vit, pp, paths, null, {
    batchSize: EMBED_BATCH,
    prepare: prepare(pp),
    onProgress: (d, t, skipped) => {
      const s = (performance.now() - t0) / 1000;
      const rate = d / Math.max(s, 1e-3);
      onProgress(
        `${what} ${count(d)}/${count(t)} images (${rate.toFixed(0)} images/s, ${Math.ceil((t - d) / rate)} s left` +
          `${skipped ? `, ${count(skipped)} unreadable` : ''})`,
        d,
        t,
      );
    },
  });
  return { ...r, seconds: (performance.now() - t0) / 1000 };
}

/** Recall@1/10/100 of the model `ck` (named `name`) on an evaluation split. */
export async function measureRecall(
  gpu: Gpu,
  ck: LoadedCheckpoint,
  name: string,
  split: EvalSplit,
  onProgress: Progress,
  prepare: Preparer,
): Promise<RecallSet> {
  const t0 = performance.now();
  const pp = checkpointPreprocessor(ck, name);
  const vit = new Vit(gpu, ck.spec, ck.weights);
  const rates = (r: EmbedImagesResult & { seconds: number }, searchSeconds: number) => ({
    imagesPerSec: r.kept.length / Math.max(r.seconds, 1e-9),
    searchSeconds,
    skipped: r.skipped.length,
    skippedFirst: r.skipped.slice(0, 20),
  });
  try {
    if (split.sop) {
      const { paths, labels } = split.sop;
      const r = await embedAll(vit, pp, paths, prepare, `${name}: embedding`, onProgress);
      const N = r.kept.length;
      const res = await sopSearch(
        gpu,
        r.emb,
        Int32Array.from(r.kept, (i) => labels[i]),
        N,
        r.D,
        RECALL_KS,
        {
          onProgress: (d, t) => onProgress(`${name}: searching ${count(d)}/${count(t)} queries`, d, t),
        },
      );
      return {
        model: name,
        recall: res.recall,
        queries: res.numValidQueries,
        images: N,
        seconds: (performance.now() - t0) / 1000,
        ...rates(r, res.seconds),
      };
    }
    let embedded: (EmbedImagesResult & { seconds: number }) | null = null;
    let tS = 0;
    const { res, images } = await jsonlRecall(
      gpu,
      split.records!,
      async (all) => {
        embedded = await embedAll(vit, pp, all, prepare, `${name}: embedding`, onProgress);
        tS = performance.now();
        return embedded;
      },
      RECALL_KS,
    );
    const searchSeconds = (performance.now() - tS) / 1000;
    return {
      model: name,
      recall: res.recall,
      queries: res.numQueries,
      images,
      seconds: (performance.now() - t0) / 1000,
      ...rates(embedded!, searchSeconds),
    };
  } finally {
    vit.destroy();
  }
}

/**
 * The app's Evaluate on `split`: the zero-shot Recall@K of the loaded model (kept in `cache`
 * under `base.key`, measured once per model and dataset), then that of the fine-tuned model
 * `fineTuned()` finds (or why there is none).
 */
export async function evaluateModels(
  gpu: Gpu,
  split: EvalSplit,
  base: { ck: LoadedCheckpoint; name: string; key: string },
  fineTuned: () => Promise<{ ft: { ck: LoadedCheckpoint; name: string } | null; why: string }>,
  cache: Map<string, RecallSet>,
  onProgress: Progress,
  prepare: Preparer,
): Promise<EvalResult> {
  let zeroShot = cache.get(base.key) ?? null;
  if (!zeroShot) {
    zeroShot = await measureRecall(gpu, base.ck, `${base.name} (zero-shot)`, split, onProgress, prepare);
    cache.set(base.key, zeroShot);
  }
  const { ft, why } = await fineTuned();
  const tuned = ft ? await measureRecall(gpu, ft.ck, ft.name, split, onProgress, prepare) : null;
  return { protocol: split.description, zeroShot, fineTuned: tuned, note: ft ? null : why };
}

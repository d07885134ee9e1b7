/**
 * Recall@K of one model on a dataset's evaluation split (in the engine worker), with the same
 * protocols as the CLI:
 *   SOP   (Ebay_test.txt)  every image is embedded and searched against all the others, itself
 *                          excluded; recall counts queries whose class has >= 2 images
 *                          (src/eval/recall.ts, as `vembed eval sop`)
 *   JSONL (val.jsonl)      the records' queries against the gallery of their distinct positives,
 *                          a hit when a top-K item has the query's label (src/eval/jsonl.ts, as the
 *                          trainer's per-epoch validation)
 * Also the gallery index for Search: every image of the dataset embedded once per model.
 *   emb [N, D] f32, L2-normalized rows; the search is exact cosine top-K on the GPU.
 */
import { outputSize, preprocess, preprocessorFromConfig, type Preprocessor } from '../data/preprocess';
import type { RgbImage } from '../data/image';
import { embedImages, prepareWith, type EmbedImagesResult, type PreparedImage } from '../eval/embed';
import { evaluateRetrieval, validationSet } from '../eval/jsonl';
import { recallAtK } from '../eval/recall';
import { ResidentGallery, searchTopK } from '../eval/search';
import type { Gpu } from '../gpu/device';
import { embedBatch } from '../model/embed';
import type { LoadedCheckpoint } from '../model/load';
import { Vit } from '../model/vit';
import { loadImage, type OpenDataset } from './data';
import type { RecallSet } from './protocol';

export const RECALL_KS = [1, 10, 100];
const EMBED_BATCH = 64;

export type Progress = (message: string, done: number, total: number) => void;

/** How a model's images become pixels: `(pp) => (path) => pixels` (the decode pool, or here). */
export type Preparer = (pp: Preprocessor) => (path: string) => Promise<PreparedImage>;

/** Decoding and preprocessing on this thread. */
export const prepareHere = (data: OpenDataset): Preparer => (pp) => prepareWith((p) => loadImage(data.source, p), pp);

export function preprocessorOf(ck: LoadedCheckpoint, where: string): Preprocessor {
  if (!ck.preprocessor) throw new Error(`${where}: no preprocessor_config.json; cannot know how to resize images`);
  return preprocessorFromConfig(ck.preprocessor, ck.spec.family, `${where}/preprocessor_config.json`);
}

const count = (n: number) => n.toLocaleString('en-US');

/** embedImages with progress lines (images/s, ETA) and the pixels from `prepare`. */
async function embedAll(vit: Vit, pp: Preprocessor, paths: string[], prepare: Preparer, what: string, onProgress: Progress): Promise<EmbedImagesResult & { seconds: number }> {
  const t0 = performance.now();
  const r = await embedImages(vit, pp, paths, null, {
    batchSize: EMBED_BATCH, prepare: prepare(pp),
    onProgress: (d, t, skipped) => {
      const s = (performance.now() - t0) / 1000;
      const rate = d / Math.max(s, 1e-3);
      onProgress(`${what} ${count(d)}/${count(t)} images (${rate.toFixed(0)} images/s, ${Math.ceil((t - d) / rate)} s left` +
        `${skipped ? `, ${count(skipped)} unreadable` : ''})`, d, t);
    },
  });
  return { ...r, seconds: (performance.now() - t0) / 1000 };
}

/** Recall@1/10/100 of the model `ck` (named `name`) on `data`'s evaluation split. */
export async function measureRecall(
  gpu: Gpu, ck: LoadedCheckpoint, name: string, data: OpenDataset, onProgress: Progress, prepare: Preparer = prepareHere(data),
): Promise<RecallSet> {
  const t0 = performance.now();
  const pp = preprocessorOf(ck, name);
  const vit = new Vit(gpu, ck.spec, ck.weights);
  const rates = (r: EmbedImagesResult & { seconds: number }, tSearch: number) => ({
    imagesPerSec: r.kept.length / Math.max(r.seconds, 1e-9), searchSeconds: (performance.now() - tSearch) / 1000,
    skipped: r.skipped.length, skippedFirst: r.skipped.slice(0, 20),
  });
  try {
    const split = data.split;
    if (split.sop) {
      const { paths, labels } = split.sop;
      const r = await embedAll(vit, pp, paths, prepare, `${name}: embedding`, onProgress);
      const N = r.kept.length;
      const K = Math.max(...RECALL_KS);
      const tS = performance.now();
      const res = await searchTopK(gpu, r.emb, r.emb, N, N, r.D, K, {
        excludeSelf: true, selfOffset: 0, onProgress: (d, t) => onProgress(`${name}: searching ${count(d)}/${count(t)} queries`, d, t),
      });
      const rec = recallAtK(res.indices, Int32Array.from(r.kept, (i) => labels[i]), RECALL_KS);
      return { model: name, recall: rec.recall, queries: rec.numValidQueries, images: N, seconds: (performance.now() - t0) / 1000, ...rates(r, tS) };
    }
    const set = validationSet(split.records!);
    const all = [...new Set([...set.queryPaths, ...set.galleryPaths])];
    const r = await embedAll(vit, pp, all, prepare, `${name}: embedding`, onProgress);
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
    const tS = performance.now();
    const res = await evaluateRetrieval(gpu, q.emb, q.labels, g.emb, g.labels, r.D, RECALL_KS);
    return { model: name, recall: res.recall, queries: res.numQueries, images: all.length, seconds: (performance.now() - t0) / 1000, ...rates(r, tS) };
  } finally {
    vit.destroy();
  }
}

/** The dataset's images embedded by one model: what Search looks through. Holds the model and
 *  the embeddings on the GPU (a query uploads only itself); `destroy()` frees both. */
export interface GalleryIndex {
  key: string;
  model: string;
  paths: string[];
  labels: string[];
  emb: Float32Array;
  D: number;
  vit: Vit;
  pp: Preprocessor;
  gallery: ResidentGallery;
  destroy(): void;
}

/** A GalleryIndex over embeddings already computed (built now, or read back from OPFS). */
export function galleryIndex(
  gpu: Gpu, key: string, ck: LoadedCheckpoint, name: string, rows: { paths: string[]; labels: string[]; emb: Float32Array; D: number },
): GalleryIndex {
  const pp = preprocessorOf(ck, name);
  const vit = new Vit(gpu, ck.spec, ck.weights);
  try {
    const gallery = new ResidentGallery(gpu, rows.emb, rows.paths.length, rows.D);
    return {
      key, model: name, ...rows, vit, pp, gallery,
      destroy: () => {
        gallery.destroy();
        vit.destroy();
      },
    };
  } catch (e) {
    vit.destroy();
    throw e;
  }
}

/** Embeds every image of `data` (its gallery()) with `ck`: what Search looks through. */
export async function buildIndex(
  gpu: Gpu, key: string, ck: LoadedCheckpoint, name: string, data: OpenDataset, onProgress: Progress, prepare: Preparer = prepareHere(data),
): Promise<GalleryIndex> {
  const pp = preprocessorOf(ck, name);
  const g = data.gallery();
  const vit = new Vit(gpu, ck.spec, ck.weights);
  let r: EmbedImagesResult;
  try {
    r = await embedAll(vit, pp, g.paths, prepare, `indexing with ${name}:`, onProgress);
  } finally {
    vit.destroy();
  }
  return galleryIndex(gpu, key, ck, name, { paths: r.kept.map((i) => g.paths[i]), labels: r.kept.map((i) => g.labels[i]), emb: r.emb, D: r.D });
}

/** Embeds one image with the index's model: [D], L2-normalized. */
export async function embedOne(index: GalleryIndex, img: RgbImage): Promise<Float32Array> {
  const { height, width } = outputSize(index.pp, img.width, img.height);
  return embedBatch(index.vit, preprocess(img, index.pp), 1, height, width);
}

/** Top-K of one query embedding against the index (`exclude`: a gallery row to leave out). */
export async function searchIndex(index: GalleryIndex, q: Float32Array, K: number, exclude: number | null): Promise<{ row: number; score: number }[]> {
  const G = index.paths.length;
  const k = Math.min(K, G);
  if (k < 1) return [];
  const res = await index.gallery.search(q, 1, k, exclude === null ? {} : { excludeSelf: true, selfOffset: exclude });
  const out: { row: number; score: number }[] = [];
  for (let i = 0; i < k; i++) {
    const row = res.indices[i];
    if (row >= G) break;
    out.push({ row, score: res.scores[i] });
  }
  return out;
}

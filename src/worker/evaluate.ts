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
import { embedImages } from '../eval/embed';
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
const EMBED_BATCH = 32;

export type Progress = (message: string, done: number, total: number) => void;

export function preprocessorOf(ck: LoadedCheckpoint, where: string): Preprocessor {
  if (!ck.preprocessor) throw new Error(`${where}: no preprocessor_config.json; cannot know how to resize images`);
  return preprocessorFromConfig(ck.preprocessor, ck.spec.family, `${where}/preprocessor_config.json`);
}

/** Recall@1/10/100 of the model `ck` (named `name`) on `data`'s evaluation split. */
export async function measureRecall(gpu: Gpu, ck: LoadedCheckpoint, name: string, data: OpenDataset, onProgress: Progress): Promise<RecallSet> {
  const t0 = performance.now();
  const pp = preprocessorOf(ck, name);
  const load = (p: string) => loadImage(data.source, p);
  const vit = new Vit(gpu, ck.spec, ck.weights);
  try {
    const split = data.split;
    if (split.sop) {
      const { paths, labels } = split.sop;
      const r = await embedImages(vit, pp, paths, load, {
        batchSize: EMBED_BATCH, onProgress: (d, t) => onProgress(`${name}: embedding ${d}/${t} images`, d, t),
      });
      const N = r.kept.length;
      const K = Math.max(...RECALL_KS);
      const res = await searchTopK(gpu, r.emb, r.emb, N, N, r.D, K, { excludeSelf: true, selfOffset: 0 });
      const rec = recallAtK(res.indices, Int32Array.from(r.kept, (i) => labels[i]), RECALL_KS);
      return { model: name, recall: rec.recall, queries: rec.numValidQueries, images: N, seconds: (performance.now() - t0) / 1000 };
    }
    const set = validationSet(split.records!);
    const all = [...new Set([...set.queryPaths, ...set.galleryPaths])];
    const r = await embedImages(vit, pp, all, load, {
      batchSize: EMBED_BATCH, onProgress: (d, t) => onProgress(`${name}: embedding ${d}/${t} images`, d, t),
    });
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
    const res = await evaluateRetrieval(gpu, q.emb, q.labels, g.emb, g.labels, r.D, RECALL_KS);
    return { model: name, recall: res.recall, queries: res.numQueries, images: all.length, seconds: (performance.now() - t0) / 1000 };
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

export async function buildIndex(gpu: Gpu, key: string, ck: LoadedCheckpoint, name: string, data: OpenDataset, onProgress: Progress): Promise<GalleryIndex> {
  const pp = preprocessorOf(ck, name);
  const g = data.gallery();
  const vit = new Vit(gpu, ck.spec, ck.weights);
  try {
    const r = await embedImages(vit, pp, g.paths, (p) => loadImage(data.source, p), {
      batchSize: EMBED_BATCH, onProgress: (d, t) => onProgress(`indexing ${d}/${t} images with ${name}`, d, t),
    });
    const gallery = new ResidentGallery(gpu, r.emb, r.kept.length, r.D);
    return {
      key, model: name, paths: r.kept.map((i) => g.paths[i]), labels: r.kept.map((i) => g.labels[i]), emb: r.emb, D: r.D, vit, pp, gallery,
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

/**
 * The gallery index for Search: every image of the dataset embedded once per model, kept on the
 * GPU (with the model, so that a query photo is embedded and searched at once).
 *   emb [N, D] f32, L2-normalized rows; the search is exact cosine top-K on the GPU.
 * The engine worker saves the embeddings in OPFS (src/platform/index-store-browser.ts).
 */
import { outputSize, preprocess, type Preprocessor } from '../data/preprocess';
import type { RgbImage } from '../data/image';
import type { EmbedImagesResult } from '../eval/embed';
import { ResidentGallery } from '../eval/search';
import type { Gpu } from '../gpu/device';
import { embedBatch } from '../model/embed';
import { checkpointPreprocessor, type LoadedCheckpoint } from '../model/load';
import { Vit } from '../model/vit';
import { embedAll, type Preparer, type Progress } from './evaluate';

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
  gpu: Gpu,
  key: string,
  ck: LoadedCheckpoint,
  name: string,
  rows: { paths: string[]; labels: string[]; emb: Float32Array; D: number },
): GalleryIndex {
  const pp = checkpointPreprocessor(ck, name);
  const vit = new Vit(gpu, ck.spec, ck.weights);
  try {
    const gallery = new ResidentGallery(gpu, rows.emb, rows.paths.length, rows.D);
    return {
      key,
      model: name,
      ...rows,
      vit,
      pp,
      gallery,
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

/** Embeds every image of `g` (a dataset's gallery()) with `ck`: what Search looks through. */
export async function buildIndex(
  gpu: Gpu,
  key: string,
  ck: LoadedCheckpoint,
  name: string,
  g: { paths: string[]; labels: string[] },
  onProgress: Progress,
  prepare: Preparer,
): Promise<GalleryIndex> {
  const pp = checkpointPreprocessor(ck, name);
  const vit = new Vit(gpu, ck.spec, ck.weights);
  let r: EmbedImagesResult;
  try {
    r = await embedAll(vit, pp, g.paths, prepare, `indexing with ${name}:`, onProgress);
  } finally {
    vit.destroy();
  }
  return galleryIndex(gpu, key, ck, name, {
    paths: r.kept.map((i) => g.paths[i]),
    labels: r.kept.map((i) => g.labels[i]),
    emb: r.emb,
    D: r.D,
  });
}

/** Embeds one image with the index's model: [D], L2-normalized. */
export async function embedOne(index: GalleryIndex, img: RgbImage): Promise<Float32Array> {
  const { height, width } = outputSize(index.pp, img.width, img.height);
  return embedBatch(index.vit, preprocess(img, index.pp), 1, height, width);
}

/** Top-K of one query embedding against the index (`exclude`: a gallery row to leave out). */
export async function searchIndex(
  index: GalleryIndex,
  q: Float32Array,
  K: number,
  exclude: number | null,
): Promise<{ row: number; score: number }[]> {
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

/**
 * The gallery index for Search: every image of the dataset embedded once per model, kept on the
 * GPU (with the model, so that a query photo is embedded and searched at once).
 *   emb [N, D] f32, L2-normalized rows; the search is exact cosine top-K on the GPU.
 * openGalleryIndex reads a saved index back from an IndexStore (the engine worker's: OPFS,
 * src/platform/index-store-browser.ts), else builds one and saves it.
 * searchDataset answers a query (a dataset image, itself left out, or a decoded photo) with the
 * hits' paths, labels, scores and images as Blobs for the page.
 */
import { outputSize, preprocess, type Preprocessor } from '../data/preprocess';
import type { RgbImage } from '../data/image';
import type { EmbedImagesResult } from '../eval/embed';
import { ResidentGallery } from '../eval/search';
import type { Gpu } from '../gpu/device';
import { embedBatch } from '../model/embed';
import { checkpointPreprocessor, type LoadedCheckpoint } from '../model/load';
import { Vit } from '../model/vit';
import { imageBlob, type OpenDataset } from './dataset';
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
export function galleryIndex(gpu: Gpu, key: string, ck: LoadedCheckpoint, name: string, rows: IndexRows): GalleryIndex {
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

/** The rows of a gallery index as they are saved. */
export interface IndexRows {
  paths: string[];
  labels: string[];
  emb: Float32Array;
  D: number;
}

/** Where the index of one dataset and model is saved (null: none saved, or unreadable). */
export interface IndexStore {
  load(): Promise<IndexRows | null>;
  save(rows: IndexRows): Promise<void>;
}

/**
 * The index of `g` with the model `ck` (named `name`): read back from `store` when saved there,
 * else built and saved (a failed save is a warning: the index serves this session).
 */
export async function openGalleryIndex(
  gpu: Gpu,
  key: string,
  ck: LoadedCheckpoint,
  name: string,
  g: { paths: string[]; labels: string[] },
  prepare: Preparer,
  store: IndexStore,
  onProgress: Progress,
): Promise<{ index: GalleryIndex; source: 'stored' | 'built' }> {
  onProgress('looking for a saved index of this dataset and model', 0, 1);
  const stored = await store.load().catch(() => null);
  if (stored) return { index: galleryIndex(gpu, key, ck, name, stored), source: 'stored' };
  const ix = await buildIndex(gpu, key, ck, name, g, onProgress, prepare);
  await store
    .save({ paths: ix.paths, labels: ix.labels, emb: ix.emb, D: ix.D })
    .catch((e) => console.warn(`search index not saved (${(e as Error).message}); it serves this session`));
  return { index: ix, source: 'built' };
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

export interface SearchHit {
  path: string;
  label: string;
  score: number;
  blob: Blob;
}

/** A query's top-K in a dataset's index, with the images of the query and the hits. */
export interface DatasetSearch {
  model: string;
  gallery: number;
  /** Milliseconds of the query's top-K search against the GPU-resident gallery. */
  searchMs: number;
  query: { path: string | null; label: string | null; blob: Blob | null };
  hits: SearchHit[];
}

/**
 * Top-`k` of `query` in the `index` of `data`: a dataset image (its row left out; embedded with
 * `load` when the index lacks it) or an image already decoded.
 */
export async function searchDataset(
  index: GalleryIndex,
  data: OpenDataset,
  query: { path: string } | { image: RgbImage },
  k: number,
  load: (path: string) => Promise<RgbImage>,
): Promise<DatasetSearch> {
  let q: Float32Array;
  let exclude: number | null = null;
  let qPath: string | null = null;
  if ('path' in query) {
    qPath = query.path;
    const row = index.paths.indexOf(query.path);
    if (row >= 0) {
      q = index.emb.slice(row * index.D, (row + 1) * index.D);
      exclude = row;
    } else {
      q = await embedOne(index, await load(query.path));
    }
  } else {
    q = await embedOne(index, query.image);
  }
  const tQ = performance.now();
  const hits = await searchIndex(index, q, k, exclude);
  const searchMs = performance.now() - tQ;
  return {
    model: index.model,
    gallery: index.paths.length,
    searchMs,
    query: {
      path: qPath,
      label: qPath ? data.labelOf(qPath) : null,
      blob: qPath ? await imageBlob(data.source, qPath) : null,
    },
    hits: await Promise.all(
      hits.map(async (h) => ({
        path: index.paths[h.row],
        label: index.labels[h.row],
        score: h.score,
        blob: await imageBlob(data.source, index.paths[h.row]),
      })),
    ),
  };
}

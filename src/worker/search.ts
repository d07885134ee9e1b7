/**
 * The app's Search in the engine worker: the gallery index of a dataset and model (src/run/
 * search-index.ts) read back from OPFS when saved there (src/platform/index-store-browser.ts),
 * else built and saved; then the top-K of a photo or of a dataset image (itself left out) with
 * the hits' images as Blobs for the page.
 */
import { decodeImageBlob } from '../data/decode-browser';
import type { Gpu } from '../gpu/device';
import type { LoadedCheckpoint } from '../model/load';
import { imageBlob, type OpenDataset } from '../run/dataset';
import type { Preparer } from '../run/evaluate';
import { buildIndex, embedOne, galleryIndex, searchIndex, type GalleryIndex } from '../run/search-index';
import { indexId, loadIndex, modelFingerprint, saveIndex } from '../platform/index-store-browser';
import { loadImage } from './data';
import type { SearchResults, StageProgress } from './protocol';

/** The index of `data` with the model `ck` (named `name`): from OPFS if saved there, else built and saved. */
export async function openIndex(
  gpu: Gpu,
  key: string,
  ck: LoadedCheckpoint,
  name: string,
  data: OpenDataset,
  prepare: Preparer,
  onProgress?: (p: StageProgress) => void,
): Promise<{ index: GalleryIndex; source: 'stored' | 'built' }> {
  const id = indexId(data.info.name, data.gallery().paths, modelFingerprint(ck));
  onProgress?.({ stage: 'index', message: 'looking for a saved index of this dataset and model', done: 0, total: 1 });
  const stored = await loadIndex(id).catch(() => null);
  if (stored) return { index: galleryIndex(gpu, key, ck, name, stored), source: 'stored' };
  const ix = await buildIndex(
    gpu,
    key,
    ck,
    name,
    data.gallery(),
    (message, done, total) => onProgress?.({ stage: 'index', message, done, total }),
    prepare,
  );
  await saveIndex({
    id,
    model: name,
    dataset: data.info.name,
    N: ix.paths.length,
    D: ix.D,
    paths: ix.paths,
    labels: ix.labels,
    emb: ix.emb,
  }).catch((e) => console.warn(`search index not saved (${(e as Error).message}); it serves this session`));
  return { index: ix, source: 'built' };
}

/** Top-`k` of `query` in `index`, with the images of the query and the hits. */
export async function searchQuery(
  index: GalleryIndex,
  data: OpenDataset,
  query: { path: string } | { blob: Blob; name: string },
  k: number,
): Promise<Pick<SearchResults, 'model' | 'gallery' | 'searchMs' | 'query' | 'hits'>> {
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
      q = await embedOne(index, await loadImage(data.source, query.path));
    }
  } else {
    q = await embedOne(index, await decodeImageBlob(query.blob, query.name));
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

/**
 * The app's Search in the engine worker: the gallery index of a dataset and model (src/run/
 * search-index.ts openGalleryIndex) read back from OPFS when saved there
 * (src/platform/index-store-browser.ts), else built and saved; then the top-K of a photo (decoded
 * here) or of a dataset image (itself left out), src/run/search-index.ts searchDataset.
 */
import { decodeImageBlob } from '../data/decode-browser';
import type { Gpu } from '../gpu/device';
import type { LoadedCheckpoint } from '../model/load';
import type { OpenDataset } from '../run/dataset';
import type { Preparer } from '../run/evaluate';
import {
  openGalleryIndex,
  searchDataset,
  type DatasetSearch,
  type GalleryIndex,
  type IndexRows,
} from '../run/search-index';
import { indexId, loadIndex, modelFingerprint, saveIndex } from '../platform/index-store-browser';
import { loadImage } from './data';
import type { StageProgress } from './protocol';

/** The index of `data` with the model `ck` (named `name`): from OPFS if saved there, else built and saved. */
export function openIndex(
  gpu: Gpu,
  key: string,
  ck: LoadedCheckpoint,
  name: string,
  data: OpenDataset,
  prepare: Preparer,
  onProgress?: (p: StageProgress) => void,
): Promise<{ index: GalleryIndex; source: 'stored' | 'built' }> {
  const id = indexId(data.info.name, data.gallery().paths, modelFingerprint(ck));
  const store = {
    load: () => loadIndex(id),
    save: ({ paths, labels, emb, D }: IndexRows) =>
      saveIndex({ id, model: name, dataset: data.info.name, N: paths.length, D, paths, labels, emb }),
  };
  const progress = (message: string, done: number, total: number) =>
    onProgress?.({ stage: 'index', message, done, total });
  return openGalleryIndex(gpu, key, ck, name, data.gallery(), prepare, store, progress);
}

/** Top-`k` of `query` (a dataset image, or a photo decoded here) in `index`. */
export async function searchQuery(
  index: GalleryIndex,
  data: OpenDataset,
  query: { path: string } | { blob: Blob; name: string },
  k: number,
): Promise<DatasetSearch> {
  const q = 'path' in query ? query : { image: await decodeImageBlob(query.blob, query.name) };
  return searchDataset(index, data, q, k, (p) => loadImage(data.source, p));
}

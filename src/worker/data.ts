/**
 * The engine worker's side of a dataset (src/run/dataset.ts reads the folder): the DataSource of
 * what the page gave (the demo over HTTP, a directory handle, a File list, or files the page
 * holds), images decoded with the browser's decoder, and the decode pool: images prepared for
 * the model there, and the background check that every image decodes.
 */
import { decodeImageBytes } from '../data/decode-browser';
import type { RgbImage } from '../data/image';
import type { DataSource } from '../platform/data-source';
import { directorySource, pathListSource, postedFilesSource } from '../platform/data-source-browser';
import { checkDatasetImages, imageLoader, type ImageCheck, type OpenDataset } from '../run/dataset';
import { DecodePool } from '../data/decode-pool-browser';
import type { Preparer } from '../run/evaluate';
import type { DatasetInput, PageFileReader, StageProgress } from './protocol';
import { fetchIndex, urlDataSource } from '../platform/data-source-http';

/** The source and display name of a dataset input (`demoBase`: the demo dataset's URL). */
export async function datasetSource(
  input: DatasetInput,
  read: PageFileReader | null,
  demoBase: string,
): Promise<{ source: DataSource; name: string }> {
  if (input.kind === 'demo')
    return {
      source: urlDataSource(demoBase, await fetchIndex(demoBase), 'demo dataset'),
      name: 'demo dataset (Fashion-MNIST products)',
    };
  if (input.kind === 'handle') return { source: directorySource(input.handle), name: input.handle.name };
  if (!input.paths.length) throw new Error('the folder has no files');
  let source: DataSource;
  if (input.kind === 'pagefiles') {
    if (!read) throw new Error('openDataset: a page folder needs its file reader');
    source = pageFilesSource(input.paths, read);
  } else {
    if (!input.files.length) throw new Error('the folder has no files');
    source = postedFilesSource(input.files, input.paths);
  }
  return { source, name: source.where || 'picked files' };
}

/** The decode pool of the worker (started on first use) and the background image check. */
export class DatasetImages {
  private pool: DecodePool | null = null;
  private checking: AbortController | null = null;

  private decodePool(): DecodePool {
    this.pool ??= new DecodePool();
    return this.pool;
  }

  /**
   * Decodes every image of `data` in the decode pool (src/run/dataset.ts checkDatasetImages) and
   * lists those that cannot be read. cancel() (or a newer check) stops it; it then reports what
   * was checked.
   */
  async check(data: OpenDataset, onProgress?: (p: StageProgress) => void): Promise<ImageCheck> {
    this.checking?.abort();
    const ctl = new AbortController();
    this.checking = ctl;
    const pool = this.decodePool();
    try {
      return await checkDatasetImages(data, (bytes, name) => pool.check(bytes, name), {
        concurrency: 4 * pool.size,
        signal: ctl.signal,
        onProgress: (message, done, total) => onProgress?.({ stage: 'validate', message, done, total }),
      });
    } finally {
      if (this.checking === ctl) this.checking = null;
    }
  }

  cancel(): void {
    this.checking?.abort();
  }

  /** Images of `data` decoded and preprocessed in the decode pool. */
  preparer(data: OpenDataset): Preparer {
    const pool = this.decodePool();
    return (pp) => async (path) => pool.prepare(await data.source.readBytes(path), path, pp);
  }
}

/**
 * The source of a folder whose files the page holds (DatasetInput 'pagefiles'): reads that arrive
 * together (a batch being decoded) go to the page as one request of up to 64 files.
 */
export function pageFilesSource(paths: string[], read: PageFileReader): DataSource {
  let queue: { i: number; ok: (b: Uint8Array) => void; fail: (e: Error) => void }[] = [];
  const flush = () => {
    const all = queue;
    queue = [];
    for (let k = 0; k < all.length; k += 64) {
      const part = all.slice(k, k + 64);
      read(part.map((x) => x.i)).then(
        (res) =>
          part.forEach((x, j) =>
            typeof res[j] === 'string' ? x.fail(new Error(res[j])) : x.ok(new Uint8Array(res[j])),
          ),
        (e: Error) => part.forEach((x) => x.fail(e)),
      );
    }
  };
  return pathListSource(
    paths,
    (i) =>
      new Promise((ok, fail) => {
        if (queue.push({ i, ok, fail }) === 1) setTimeout(flush, 0);
      }),
  );
}

/** Decodes an image of the source (createImageBitmap); errors carry `path`. */
export function loadImage(source: DataSource, path: string): Promise<RgbImage> {
  return imageLoader(source, decodeImageBytes)(path);
}

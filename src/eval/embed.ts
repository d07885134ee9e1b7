/**
 * Embedding a list of images for evaluation (Node CLI and browser alike: images come through a
 * `load` function, no Node APIs here):
 *   paths [N] -> emb [M, D] f32 (L2-normalized), kept [M] (indices into paths), skipped (M <= N)
 * Decoding + preprocessing of the next batch runs while the GPU embeds the current one; with
 * `prepare` both happen elsewhere (the browser's decode-worker pool) and this thread only
 * assembles batches. An image that cannot be read or decoded is skipped and listed, never
 * embedded as a black image. Memory: the [N, D] result is allocated once and filled batch by
 * batch, plus one batch of pixels being embedded and one being decoded (60,502 SOP test images
 * at D = 768: 186 MB of embeddings).
 * Timing: `decodeSeconds` is the wall time of the decode+preprocess batches, `embedSeconds` the
 * time spent in the model; as the two overlap, each rate is measured on its own busy time.
 */
import type { RgbImage } from '../data/image';
import { outputSize, preprocess, type PreparedImage, type Preprocessor } from '../data/preprocess';
import { embedBatch, embeddingDim, type Pooling } from '../model/embed';
import type { Vit } from '../model/vit';
import { firstNonFiniteRow } from '../util/finite';

export type { PreparedImage };

export interface EmbedImagesOptions {
  batchSize: number;
  pooling?: Pooling;
  /** After each batch: images attempted so far, total, skipped so far. */
  onProgress?: (done: number, total: number, skipped: number) => void;
  /** Decodes and preprocesses one image elsewhere (instead of `load` + preprocess here). */
  prepare?: (path: string) => Promise<PreparedImage>;
  /** Stops between batches (the error is the signal's reason). */
  signal?: AbortSignal;
}

export interface EmbedImagesResult {
  emb: Float32Array;
  D: number;
  /** Index into `paths` of each embedded row, ascending. */
  kept: number[];
  skipped: { path: string; error: string }[];
  decodeSeconds: number;
  embedSeconds: number;
}

/** `load` then `preprocess` on this thread. */
export function prepareWith(
  load: (path: string) => Promise<RgbImage>,
  pp: Preprocessor,
): (path: string) => Promise<PreparedImage> {
  return async (path) => {
    const img = await load(path);
    const { height, width } = outputSize(pp, img.width, img.height);
    return { px: preprocess(img, pp), h: height, w: width };
  };
}

export async function embedImages(
  vit: Vit,
  pp: Preprocessor,
  paths: readonly string[],
  load: ((path: string) => Promise<RgbImage>) | null,
  opts: EmbedImagesOptions,
): Promise<EmbedImagesResult> {
  const batch = opts.batchSize;
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch size ${batch}: expected a positive integer`);
  const pooling = opts.pooling ?? 'cls';
  const D = embeddingDim(vit, pooling);
  if (!load && !opts.prepare) throw new Error('embedImages: give `load` or `prepare`');
  const prepare = opts.prepare ?? prepareWith(load!, pp);
  type Item = PreparedImage & { i: number };
  const skipped: { path: string; error: string }[] = [];
  let decodeSeconds = 0;
  let embedSeconds = 0;

  const loadBatch = async (start: number): Promise<Item[]> => {
    const t0 = performance.now();
    const items = await Promise.all(
      paths.slice(start, start + batch).map(async (path, k) => {
        try {
          return { i: start + k, ...(await prepare(path)) };
        } catch (e) {
          skipped.push({ path, error: (e as Error).message });
          return null;
        }
      }),
    );
    decodeSeconds += (performance.now() - t0) / 1000;
    return items.filter((x): x is Item => x !== null);
  };

  const kept: number[] = [];
  const emb = new Float32Array(paths.length * D);
  let next = loadBatch(0);
  try {
    for (let start = 0; start < paths.length; start += batch) {
      const items = await next;
      opts.signal?.throwIfAborted();
      next = start + batch < paths.length ? loadBatch(start + batch) : Promise.resolve([]);
      // One GPU batch per run of equal-sized images (all equal unless the processor keeps aspect).
      for (let i = 0; i < items.length;) {
        let j = i + 1;
        while (j < items.length && items[j].h === items[i].h && items[j].w === items[i].w) j++;
        const { h, w } = items[i];
        const n = 3 * h * w;
        const px = new Float32Array((j - i) * n);
        for (let k = i; k < j; k++) px.set(items[k].px, (k - i) * n);
        const t0 = performance.now();
        emb.set(await embedBatch(vit, px, j - i, h, w, pooling), kept.length * D);
        embedSeconds += (performance.now() - t0) / 1000;
        for (let k = i; k < j; k++) kept.push(items[k].i);
        i = j;
      }
      opts.onProgress?.(Math.min(start + batch, paths.length), paths.length, skipped.length);
    }
  } finally {
    await next.catch(() => {});
  }
  // Skips are pushed as decodes finish; report them in list order.
  const order = new Map(paths.map((p, i) => [p, i]));
  skipped.sort((a, b) => order.get(a.path)! - order.get(b.path)!);
  // rows come L2-normalized from embedBatch
  return { emb: emb.subarray(0, kept.length * D), D, kept, skipped, decodeSeconds, embedSeconds };
}

/**
 * Before a search: every row of `emb` [N, D] must be finite, or the search would silently rank a
 * NaN row anywhere and Recall@K would be wrong. `names[i]` names row i (an image path) in the error.
 */
export function checkEmbeddings(
  emb: Float32Array,
  N: number,
  D: number,
  names: readonly string[],
  source: string,
): void {
  const bad = firstNonFiniteRow(emb, N, D);
  if (bad < 0) return;
  let count = 0;
  for (let n = bad; n < N; n++) if (firstNonFiniteRow(emb.subarray(n * D, (n + 1) * D), 1, D) === 0) count++;
  throw new Error(
    `${source}: the embedding of ${names[bad] ?? `row ${bad}`} has NaN/Inf values` +
      (count > 1 ? ` (${count} of ${N} embeddings do)` : '') +
      '; nothing was searched: a model or file that gives NaN cannot be evaluated',
  );
}

/** Throws when no image could be embedded (naming the first failure), instead of an empty result. */
export function requireEmbedded(r: Pick<EmbedImagesResult, 'kept' | 'skipped'>, total: number): void {
  if (r.kept.length > 0 || total === 0) return;
  const f = r.skipped[0];
  throw new Error(
    `none of the ${total} images could be read${f ? ` (first: ${f.path}: ${f.error})` : ''}; nothing was written`,
  );
}

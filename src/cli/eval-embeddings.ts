/**
 * The embeddings `vembed eval sop` searches (./eval.ts): computed by the model over the images of
 * Ebay_test.txt (decoding runs ahead of the GPU; unreadable images skipped and listed), kept with
 * --save_embeddings in a safetensors file ("embeddings" [N, D] f32, "labels" [N] i64, and the
 * model, pooling, list, paths and skipped images in the metadata), or read back from such a file
 * with --embeddings (repeated paths dropped, rows L2-normalized, labels from the list when the
 * file has none).
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { decodeImageFile } from '../data/decode-node';
import type { EbayRecord } from '../data/sop';
import { checkEmbeddings, embedImages, requireEmbedded } from '../eval/embed';
import type { Gpu } from '../gpu/device';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors';
import { l2normalizeRows, type Pooling } from '../model/embed';
import { checkpointPreprocessor } from '../model/load';
import { Vit } from '../model/vit';
import { writeFileAtomic } from '../util/output-node';
import { loadEvalModel } from './eval-model';
import { firstLines, ProgressBar, skipReason } from './progress';

/** Rows to search: embeddings [N, D] with their class labels and image paths. */
export interface EmbeddingSet {
  emb: Float32Array;
  N: number;
  D: number;
  labels: Int32Array | null;
  paths: string[];
  skipped: { path: string; error: string }[];
  model: string;
  base?: string;
  pooling: Pooling;
}

/** Ebay_test.txt's records (one per path) and where the list is. */
export interface SopList {
  records: EbayRecord[];
  file: string;
}

export const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** Embeddings file written by --save_embeddings (or `vembed embed`, labels then from the list). */
async function readEmbeddings(file: string): Promise<EmbeddingSet> {
  const bytes = await readFile(file).catch((e: Error) => {
    throw new Error(`--embeddings ${file}: cannot read (${e.message})`);
  });
  const f = SafetensorsFile.parse(bytes, file);
  if (!f.has('embeddings')) throw new Error(`${file}: no "embeddings" tensor (write one with --save_embeddings)`);
  const shape = f.info('embeddings').shape;
  if (shape.length !== 2) throw new Error(`${file}: "embeddings" has shape [${shape.join(', ')}]; expected [N, D]`);
  const [N, D] = shape;
  let labels: Int32Array | null = null;
  if (f.has('labels')) {
    const l = f.i64('labels');
    if (l.length !== N) throw new Error(`${file}: ${l.length} labels for ${N} embeddings`);
    labels = Int32Array.from(l, (x) => Number(x));
  }
  const json = <T>(key: string, dflt: T): T => {
    if (f.metadata[key] === undefined) return dflt;
    try {
      return JSON.parse(f.metadata[key]) as T;
    } catch {
      throw new Error(`${file}: metadata "${key}" is not valid JSON`);
    }
  };
  const paths = json<string[]>('paths', []);
  if (paths.length !== N) throw new Error(`${file}: metadata "paths" lists ${paths.length} images for ${N} embeddings`);
  return {
    emb: f.f32('embeddings'),
    N,
    D,
    labels,
    paths,
    skipped: json('skipped', []),
    model: f.metadata.model ?? '?',
    base: f.metadata.base_model,
    pooling: (f.metadata.pooling ?? 'cls') as Pooling,
  };
}

/** Keeps the first row of each image path of an embeddings file; returns how many were dropped. */
function dropRepeatedPaths(set: EmbeddingSet): number {
  const seen = new Set<string>();
  const keep = set.paths.map((p) => !seen.has(p) && !!seen.add(p));
  const rows = keep.flatMap((k, i) => (k ? [i] : []));
  if (rows.length === set.N) return 0;
  const emb = new Float32Array(rows.length * set.D);
  rows.forEach((i, j) => emb.set(set.emb.subarray(i * set.D, (i + 1) * set.D), j * set.D));
  const dropped = set.N - rows.length;
  Object.assign(set, {
    emb,
    N: rows.length,
    paths: rows.map((i) => set.paths[i]),
    labels: set.labels ? Int32Array.from(rows, (i) => set.labels![i]) : null,
  });
  return dropped;
}

/**
 * --embeddings `file` ready to search: repeated paths dropped (`dropped` counts them), checked,
 * L2-normalized, labelled (from `list` when the file has no labels).
 */
export async function loadEmbeddingSet(
  file: string,
  list: SopList | null,
  err: (text: string) => void,
): Promise<{ set: EmbeddingSet; dropped: number }> {
  const set = await readEmbeddings(file);
  const dropped = dropRepeatedPaths(set);
  if (dropped) err(`${file}: ${dropped} repeated image paths removed (each image is searched once)\n`);
  checkEmbeddings(set.emb, set.N, set.D, set.paths, file);
  l2normalizeRows(set.emb, set.N, set.D); // (rows from embedImages already are)
  if (!set.labels) {
    if (!list) throw new Error(`${file}: no "labels" tensor; give --sop_root to take the classes from Ebay_test.txt`);
    const base = dirname(list.file);
    const byPath = new Map(list.records.map((r) => [join(base, r.path), r.classId]));
    set.labels = Int32Array.from(set.paths, (p) => {
      const c = byPath.get(p);
      if (c === undefined) throw new Error(`${file}: image ${p} is not in ${list.file}`);
      return c;
    });
  }
  err(`read ${set.N} embeddings of dimension ${set.D} from ${file}\n`);
  return { set, dropped };
}

/** How `vembed eval sop` embeds: the model arguments, the batch and pooling, where the report goes. */
export interface EmbedListOptions {
  modelPath: string;
  baseModel?: string;
  token?: string;
  batchSize: number;
  pooling: Pooling;
  /** Named where the skipped images are all listed. */
  reportFile: string;
}

/** Every image of `list` embedded by the model (unreadable ones skipped and told), with the rates. */
export async function embedSopList(
  gpu: Gpu,
  list: SopList,
  o: EmbedListOptions,
  err: (text: string) => void,
): Promise<{ set: EmbeddingSet; decodeRate: number | null; embedRate: number | null }> {
  const { ck, base } = await loadEvalModel(o.modelPath, o.baseModel, o.token, (l) => err(`${l}\n`));
  const pp = checkpointPreprocessor(ck, base ?? o.modelPath);
  const root = dirname(list.file);
  const paths = list.records.map((r) => join(root, r.path));
  const vit = new Vit(gpu, ck.spec, ck.weights);
  try {
    const bar = new ProgressBar('embed', paths.length);
    const r = await embedImages(vit, pp, paths, decodeImageFile, {
      batchSize: o.batchSize,
      pooling: o.pooling,
      onProgress: (done, _total, skipped) => bar.update(done, skipped ? `(${skipped} skipped)` : ''),
    });
    bar.done();
    err(
      firstLines(
        r.skipped.map((s) => `skipped ${skipReason(s)}`),
        o.reportFile,
      ),
    );
    requireEmbedded(r, paths.length);
    return {
      set: {
        emb: r.emb,
        N: r.kept.length,
        D: r.D,
        labels: Int32Array.from(r.kept, (i) => list.records[i].classId),
        paths: r.kept.map((i) => paths[i]),
        skipped: r.skipped,
        model: o.modelPath,
        base: base ?? undefined,
        pooling: o.pooling,
      },
      decodeRate: r.decodeSeconds > 0 ? round(paths.length / r.decodeSeconds) : null,
      embedRate: r.embedSeconds > 0 ? round(r.kept.length / r.embedSeconds) : null,
    };
  } finally {
    vit.destroy();
  }
}

/** --save_embeddings: `set` (with labels) written atomically to `file`, readable by loadEmbeddingSet. */
export async function saveEmbeddings(
  file: string,
  set: EmbeddingSet,
  listFile: string,
  err: (text: string) => void,
): Promise<void> {
  const meta: Record<string, string> = {
    format: 'pt',
    model: set.model,
    pooling: set.pooling,
    list: listFile,
    paths: JSON.stringify(set.paths),
    skipped: JSON.stringify(set.skipped),
  };
  if (set.base) meta.base_model = set.base;
  await writeFileAtomic(
    file,
    writeSafetensors(
      [
        { name: 'embeddings', shape: [set.N, set.D], data: set.emb },
        { name: 'labels', dtype: 'I64', shape: [set.N], data: set.labels! },
      ],
      meta,
    ),
  );
  err(`wrote ${set.N} embeddings of dimension ${set.D} to ${file}\n`);
}

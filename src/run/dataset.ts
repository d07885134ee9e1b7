/**
 * A dataset folder as the app sees it: what format it is, its training pairs, its evaluation
 * split, labels for display and sample thumbnails. The folder is any DataSource: in the app's
 * engine worker a picked or dropped directory handle, the files of an `<input webkitdirectory>`
 * or the bundled demo over HTTP; in Node a folder (src/platform/data-source-node.ts, as the tests use it).
 *
 * Format detection (the folder's top level):
 *   Ebay_train.txt / Ebay_test.txt   Stanford Online Products layout: evaluation uses the SOP
 *                                    protocol on Ebay_test.txt (every image queries all others)
 *   *.jsonl                          training records (train*.jsonl, else the only/first one that
 *                                    is not val/test); a val*.jsonl / test*.jsonl is the
 *                                    evaluation split (JSONL protocol: its queries against the
 *                                    gallery of its positives, by label)
 *   class subfolders of images       ImageFolder
 * In an SOP folder prepared by `vembed prepare sop` (train.jsonl beside Ebay_train.txt) the
 * training records come from train.jsonl, evaluation still from Ebay_test.txt.
 * checkDatasetImages decodes every image of an opened dataset (the app's background check).
 */
import { loadPairDataset, validateImages, type DecodeFn, type PairRecord } from '../data/datasets';
import type { RgbImage } from '../data/image';
import { readEbayList, uniqueEbayRecords, type EbayRecord } from '../data/sop';
import { basename, dirname, existingFiles, joinPath, type DataSource } from '../platform/data-source';

/** Where the app's dataset came from (the page's DatasetInput kinds; 'folder' in Node). */
export type DatasetKind = 'demo' | 'handle' | 'files' | 'pagefiles' | 'folder';

export interface SampleImage {
  path: string;
  label: string;
  blob: Blob;
}

export interface DatasetInfo {
  /** Name of the picked folder (or "demo"). */
  name: string;
  kind: DatasetKind;
  /** 'sop' (Stanford Online Products layout), 'jsonl', 'imagefolder'. */
  format: 'sop' | 'jsonl' | 'imagefolder';
  /** One line saying what was found, e.g. "Stanford Online Products layout with train.jsonl / val.jsonl". */
  description: string;
  images: number;
  classes: number;
  pairs: number;
  /** Images of the evaluation split (SOP Ebay_test.txt or the validation JSONL), 0 when none. */
  testImages: number;
  /** data_path / val_data_path the config should use (relative to the folder). */
  dataPath: string;
  valDataPath: string | null;
  /** How Evaluate will measure Recall@K on this data. */
  evalProtocol: string;
  problems: string[];
  samples: SampleImage[];
}

/** Result of the background image check of a dataset. */
export interface ImageCheck {
  checked: number;
  total: number;
  unreadable: { path: string; reason: string }[];
  /** Stopped by cancelImageCheck() (or a newer check) before the end. */
  cancelled: boolean;
}

export interface EvalSplit {
  protocol: 'sop' | 'jsonl';
  /** Human-readable: how Recall@K is measured. */
  description: string;
  /** SOP: every image is a query against all the others. */
  sop: { paths: string[]; labels: Int32Array } | null;
  /** JSONL: query/positive records. */
  records: PairRecord[] | null;
}

export interface OpenDataset {
  /** Changes with every dataset opened (cache keys). */
  key: string;
  source: DataSource;
  info: DatasetInfo;
  records: PairRecord[];
  split: EvalSplit;
  /** Display label of an image path. */
  labelOf(path: string): string;
  /** All distinct images (training pairs and evaluation split) with their display labels. */
  gallery(): { paths: string[]; labels: string[] };
}

const MAX_SAMPLES = 12;
let opened = 0;

export function mimeOf(path: string): string {
  const ext = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
  return ext === 'png' ? 'image/png' : ext === 'webp' ? 'image/webp' : ext === 'gif' ? 'image/gif' : 'image/jpeg';
}

/** The bytes of an image as a Blob the page can show. */
export async function imageBlob(source: DataSource, path: string): Promise<Blob> {
  return new Blob([(await source.readBytes(path)) as Uint8Array<ArrayBuffer>], { type: mimeOf(path) });
}

/**
 * `decode` over the images of `source`; errors carry `path` (the trainer reports skipped images
 * by it).
 */
export function imageLoader(
  source: DataSource,
  decode: (bytes: Uint8Array, path: string) => Promise<RgbImage>,
): (path: string) => Promise<RgbImage> {
  return async (path) => {
    try {
      return await decode(await source.readBytes(path), path);
    } catch (e) {
      throw Object.assign(new Error((e as Error).message), { path });
    }
  };
}

/**
 * `path` if the source has it, else the path with leading folders dropped until it exists
 * ("data/sop/train.jsonl" -> "train.jsonl" in a picked sop folder); a folder path (`folder`,
 * e.g. image_root "data/sop") that is none of those is the picked folder itself ('.').
 * Null when nothing matches.
 */
export async function resolveInSource(source: DataSource, path: string, folder = false): Promise<string | null> {
  const segs = joinPath(path)
    .split('/')
    .filter((s) => s !== '..' && s !== '.');
  for (let k = 0; k < segs.length; k++) {
    const p = segs.slice(k).join('/');
    if (await source.exists(p)) return p;
  }
  return folder || segs.length === 0 ? '.' : null;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

function listSome(items: string[], n = 5): string {
  return items.slice(0, n).join(', ') + (items.length > n ? `, ... (${items.length - n} more)` : '');
}

export async function openDataset(
  source: DataSource,
  name: string,
  kind: DatasetKind,
  onProgress?: (message: string) => void,
): Promise<OpenDataset> {
  const say = onProgress ?? (() => {});
  say(`Reading ${name}: detecting the format…`);
  const top = await source.list('.');
  const file = (n: string) => top.some((e) => !e.dir && e.name === n);
  const problems: string[] = [];

  let sopTrain: EbayRecord[] | null = null;
  let sopTest: EbayRecord[] | null = null;
  if (file('Ebay_train.txt'))
    sopTrain = readEbayList(await source.readText('Ebay_train.txt'), `${name}/Ebay_train.txt`);
  if (file('Ebay_test.txt')) sopTest = readEbayList(await source.readText('Ebay_test.txt'), `${name}/Ebay_test.txt`);
  const isSop = sopTrain !== null || sopTest !== null;

  const jsonls = top.filter((e) => !e.dir && /\.jsonl$/i.test(e.name)).map((e) => e.name);
  const evalName = /^(val|valid|validation|test|eval)\b/i;
  const trainJsonl = jsonls.find((n) => /^train/i.test(n)) ?? jsonls.find((n) => !evalName.test(n)) ?? null;
  const valJsonl = jsonls.find((n) => evalName.test(n)) ?? null;
  const dataPath = trainJsonl ?? '.';
  const ds = await loadPairDataset(source, { dataPath, seed: 42 });
  problems.push(...ds.problems);
  const format: DatasetInfo['format'] = isSop ? 'sop' : ds.format;

  // Missing image files of the training records (one listing per folder).
  say(`Reading ${name}: ${plural(ds.records.length, 'training pair')}; looking for their images…`);
  const trainPaths = [...new Set(ds.records.flatMap((r) => [r.query, r.positive]))];
  const found = await existingFiles(source, trainPaths);
  const missing = trainPaths.filter((p) => !found.has(p));
  if (missing.length === trainPaths.length && missing.length > 0) {
    problems.push(
      `none of the ${plural(missing.length, 'image')} named by ${dataPath} exist in the folder (first: ${missing[0]}); set image_root to the folder the paths start from`,
    );
  } else if (missing.length) {
    problems.push(
      `${plural(missing.length, 'image')} named by ${dataPath} are missing (their pairs are dropped at training): ${listSome(missing)}`,
    );
  }

  // Evaluation split.
  let split: EvalSplit;
  let valDataPath: string | null = null;
  if (sopTest) {
    say(`Reading ${name}: ${plural(sopTest.length, 'evaluation image')} listed in Ebay_test.txt; looking for them…`);
    const unique = uniqueEbayRecords(sopTest, `${name}/Ebay_test.txt`);
    if (unique.repeats)
      problems.push(
        `Ebay_test.txt: ${plural(unique.repeats, 'repeated image path')} removed (each image is searched once; a repeat would find itself)`,
      );
    const present = await existingFiles(
      source,
      unique.records.map((r) => r.path),
    );
    const kept = unique.records.filter((r) => present.has(r.path));
    if (kept.length < unique.records.length)
      problems.push(
        `Ebay_test.txt: ${plural(unique.records.length - kept.length, 'listed image')} missing (left out of evaluation)`,
      );
    const classes = new Set(kept.map((r) => r.classId)).size;
    split = {
      protocol: 'sop',
      description: `SOP protocol on Ebay_test.txt: each of its ${plural(kept.length, 'image')} (${plural(classes, 'product')}) queries all the others`,
      sop: { paths: kept.map((r) => r.path), labels: Int32Array.from(kept, (r) => r.classId) },
      records: null,
    };
    if (valJsonl) valDataPath = valJsonl;
  } else if (valJsonl) {
    const val = await loadPairDataset(source, { dataPath: valJsonl, seed: 42 });
    problems.push(...val.problems);
    valDataPath = valJsonl;
    split = {
      protocol: 'jsonl',
      description: `JSONL protocol on ${valJsonl}: its ${plural(val.records.length, 'query', 'queries')} against the gallery of its positives, by label`,
      sop: null,
      records: val.records,
    };
  } else {
    split = {
      protocol: 'jsonl',
      description: `no held-out split found (no Ebay_test.txt or val.jsonl): JSONL protocol on the training pairs themselves (optimistic)`,
      sop: null,
      records: ds.records,
    };
  }

  // Labels for display.
  const superOf = new Map<string, string>();
  const classOf = new Map<string, number>();
  for (const r of [...(sopTrain ?? []), ...(sopTest ?? [])]) {
    classOf.set(r.path, r.classId);
    superOf.set(r.path, dirname(r.path).replace(/_final$/, ''));
  }
  for (const r of [...ds.records, ...(split.records ?? [])]) {
    if (r.label !== null) {
      if (!classOf.has(r.query)) classOf.set(r.query, r.label);
      if (!classOf.has(r.positive)) classOf.set(r.positive, r.label);
    }
  }
  const labelOf = (path: string): string => {
    const c = classOf.get(path);
    if (superOf.has(path)) return `${superOf.get(path)} #${c}`;
    const folder = dirname(path);
    if (format === 'imagefolder' && folder !== '.') return basename(folder);
    return c !== undefined ? `class ${c}` : basename(path);
  };

  const evalPaths = split.sop
    ? split.sop.paths
    : [...new Set((split.records ?? []).flatMap((r) => [r.query, r.positive]))];
  const allPaths = [...new Set([...trainPaths.filter((p) => found.has(p)), ...evalPaths])];
  const allClasses = new Set<string>();
  for (const p of allPaths) allClasses.add(classOf.has(p) ? String(classOf.get(p)) : `path:${p}`);

  // A few samples, one per class, spread over the data.
  say(`Reading ${name}: ${plural(allPaths.length, 'image')}; reading sample images…`);
  const samples: SampleImage[] = [];
  const seen = new Set<number | null>();
  for (const r of ds.records) {
    if (samples.length >= MAX_SAMPLES) break;
    if (!found.has(r.query) || (r.label !== null && seen.has(r.label))) continue;
    seen.add(r.label);
    try {
      samples.push({ path: r.query, label: labelOf(r.query), blob: await imageBlob(source, r.query) });
    } catch {
      // unreadable: the image check lists it
    }
  }

  const what =
    format === 'sop'
      ? `Stanford Online Products layout (${[sopTrain && 'Ebay_train.txt', sopTest && 'Ebay_test.txt'].filter(Boolean).join(', ')})` +
        (trainJsonl ? ` with ${[trainJsonl, valJsonl].filter(Boolean).join(' / ')}` : '')
      : format === 'jsonl'
        ? `JSONL records (${[trainJsonl, valJsonl].filter(Boolean).join(' / ')})`
        : `ImageFolder (one subfolder per class)`;
  const info: DatasetInfo = {
    name,
    kind,
    format,
    description: what,
    images: allPaths.length,
    classes: allClasses.size,
    pairs: ds.records.length,
    testImages: evalPaths.length,
    dataPath,
    valDataPath,
    evalProtocol: split.description,
    problems,
    samples,
  };
  const key = `dataset-${++opened}`;
  return {
    key,
    source,
    info,
    records: ds.records,
    split,
    labelOf,
    gallery: () => ({ paths: allPaths, labels: allPaths.map(labelOf) }),
  };
}

/**
 * Decodes every image of `data` with `check` (`concurrency` at a time) and lists those that
 * cannot be read, progress at most every 100 ms; when `signal` aborts it reports what was checked.
 */
export async function checkDatasetImages(
  data: OpenDataset,
  check: DecodeFn,
  o: { concurrency: number; signal: AbortSignal; onProgress?: (message: string, done: number, total: number) => void },
): Promise<ImageCheck> {
  const { paths } = data.gallery();
  const records = paths.map((p) => ({ query: p, positive: p, label: null }));
  let last = 0;
  let checked = 0;
  const t0 = performance.now();
  const problems = await validateImages(data.source, records, check, {
    concurrency: o.concurrency,
    signal: o.signal,
    onProgress: (done, total) => {
      checked = done;
      const now = performance.now();
      if (done === total || now - last > 100) {
        last = now;
        const rate = done / Math.max((now - t0) / 1000, 1e-3);
        o.onProgress?.(
          `checking images ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} (${rate.toFixed(0)}/s)`,
          done,
          total,
        );
      }
    },
  });
  return { checked, total: paths.length, unreadable: problems, cancelled: o.signal.aborted };
}

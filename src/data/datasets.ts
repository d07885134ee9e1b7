/**
 * Training-pair datasets: reads `data_path` in one of three formats into records
 * {query, positive, label} (image paths relative to the DataSource root), and the `validate_data`
 * pass that decodes every referenced image before training. No Node APIs: files come through a
 * DataSource (./source.ts), images through a decode function the caller passes in.
 *
 * Formats, told apart by loadPairDataset:
 *   jsonl        a .jsonl file, one object per line: query_image, positive, label (or class_id / id);
 *                `column_mapping` names other columns per role ({query_image: img}); image paths are
 *                relative to `image_root` (none: the source root). Labels are integers, or strings
 *                (mapped to 0, 1, ... in order of first appearance), or null / absent.
 *   sop          a folder with Ebay_train.txt (Stanford Online Products): the train split, paired as
 *                `vembed prepare sop` does (./sop.ts); image paths relative to that folder.
 *   imagefolder  a folder with one subfolder of images per class (root/<class>/<image>, subfolders of
 *                a class included); classes numbered in name order; paired as SOP.
 * Errors name the file and line; things skipped (single-image classes, missing SOP files) are listed
 * in `problems`. Image paths are confined to their root (image_root, the SOP folder) unless
 * allowOutsideRoot (allow_absolute_paths) says otherwise: an absolute or "../" path is an error.
 */
import { DataFormatError, makePairs, prepareSop } from './sop';
import { isImageName, joinPath, subSource, type DataSource } from '../platform/data-source';
import { outsideRootProblem } from '../util/paths';

export { DataFormatError } from './sop';

export type DatasetFormat = 'jsonl' | 'imagefolder' | 'sop';

export interface PairRecord {
  /** Query image, relative to the source root. */
  query: string;
  /** An image of the same item, relative to the source root. */
  positive: string;
  /** Class id (string labels mapped to integers), or null when the record has none. */
  label: number | null;
}

export interface PairDataset {
  format: DatasetFormat;
  records: PairRecord[];
  /** Distinct labels among the records. */
  numClasses: number;
  /** What was skipped or looked odd, one line each (never fatal). */
  problems: string[];
}

/** Column roles a dataset record may rename (vembed-factory's names, plus `label`). */
export const COLUMN_ROLES = ['query_image', 'positive', 'negatives', 'label', 'query'] as const;
export type ColumnRole = (typeof COLUMN_ROLES)[number];
/** Record column name per role, e.g. {query_image: 'img'} (the config's `column_mapping`). */
export type ColumnMapping = Partial<Record<ColumnRole, string>>;

export interface LoadPairOptions {
  /** A .jsonl file or a dataset folder, relative to the source root. */
  dataPath: string;
  /** JSONL only: folder the records' image paths are relative to (null/'' = the source root). */
  imageRoot?: string | null;
  /** JSONL only: column name per role, e.g. {query_image: 'img', label: 'class_id'}. */
  columnMapping?: ColumnMapping | null;
  /** Seed of the positive draws (SOP, ImageFolder). Default 42. */
  seed?: number;
  /** Image paths may be absolute or lead out of their root with ".." (allow_absolute_paths). Default false. */
  allowOutsideRoot?: boolean;
}

export const ACCEPTED_FORMATS =
  'accepted: a .jsonl file of records {query_image, positive, label}; a Stanford Online Products folder ' +
  '(with Ebay_train.txt); an ImageFolder folder (one subfolder of images per class)';

const LABEL_KEYS = ['label', 'class_id', 'id'] as const;
const MAX_LISTED = 20;

function listSome(items: readonly (string | number)[]): string {
  const head = items.slice(0, MAX_LISTED).join(', ');
  return items.length > MAX_LISTED ? `${head}, ... (${items.length - MAX_LISTED} more)` : head;
}

const show = (v: unknown) => (v === undefined ? 'nothing' : JSON.stringify(v));

/** Reads the records of a dataset, telling its format from what `dataPath` is (see the header). */
export async function loadPairDataset(source: DataSource, opts: LoadPairOptions): Promise<PairDataset> {
  const { dataPath } = opts;
  const seed = opts.seed ?? 42;
  if (/\.jsonl$/i.test(dataPath)) {
    if (!(await source.exists(dataPath))) throw new DataFormatError(`${dataPath}: no such file (in ${source.where})`);
    return readJsonlPairs(
      await source.readText(dataPath),
      dataPath,
      opts.imageRoot ?? null,
      opts.columnMapping ?? null,
      opts.allowOutsideRoot ?? false,
    );
  }
  let entries;
  try {
    entries = await source.list(dataPath);
  } catch {
    if (await source.exists(dataPath))
      throw new DataFormatError(`${dataPath}: not a dataset this trainer reads; ${ACCEPTED_FORMATS}`);
    throw new DataFormatError(`${dataPath}: no such file or folder (in ${source.where})`);
  }
  if (entries.some((e) => e.name === 'Ebay_train.txt' && !e.dir))
    return loadSop(source, dataPath, seed, opts.allowOutsideRoot ?? false);
  const folder = await loadImageFolder(source, dataPath, entries, seed);
  if (folder) return folder;
  throw new DataFormatError(
    `${dataPath}: a folder with neither Ebay_train.txt nor class subfolders of images; ${ACCEPTED_FORMATS}`,
  );
}

/** JSONL records (see the header). `name` is the file as named in errors (`name:line: ...`). An
 *  image path must stay inside image_root (or the source root) unless `allowOutsideRoot`. */
export function readJsonlPairs(
  text: string,
  name: string,
  imageRoot: string | null,
  columnMapping: ColumnMapping | null,
  allowOutsideRoot = false,
): PairDataset {
  const rootName = imageRoot ? `image_root (${imageRoot})` : 'the folder the paths are relative to (no image_root)';
  const cm = columnMapping ?? {};
  const qKey = cm.query_image ?? 'query_image';
  const pKey = cm.positive ?? 'positive';
  const keyHint = (role: string, key: string) => (key !== role ? ` (column_mapping ${role}: ${key})` : '');
  const raw: { query: string; positive: string; label: number | string | null; line: number }[] = [];
  let firstInt: { line: number; v: number } | null = null;
  let firstStr: { line: number; v: string } | null = null;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const at = `${name}:${i + 1}`;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      throw new DataFormatError(`${at}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof rec !== 'object' || rec === null || Array.isArray(rec))
      throw new DataFormatError(`${at}: expected a JSON object, got ${show(rec)}`);
    const r = rec as Record<string, unknown>;
    const keys = Object.keys(r).join(', ') || 'none';
    const path = (role: string, key: string): string => {
      if (!(key in r))
        throw new DataFormatError(`${at}: no "${key}" field${keyHint(role, key)}; the record has: ${keys}`);
      const v = r[key];
      if (typeof v !== 'string' || v === '')
        throw new DataFormatError(`${at}: "${key}" must be an image path (a non-empty string), got ${show(v)}`);
      const outside = outsideRootProblem(v, rootName, allowOutsideRoot);
      if (outside) throw new DataFormatError(`${at}: "${key}": ${outside}`);
      return joinPath(imageRoot, v);
    };
    const query = path('query_image', qKey);
    const positive = path('positive', pKey);
    const lKey = cm.label ?? LABEL_KEYS.find((k) => k in r);
    const lv = lKey === undefined ? null : r[lKey];
    let label: number | string | null;
    if (lv === null || lv === undefined) label = null;
    else if (typeof lv === 'number' && Number.isSafeInteger(lv)) {
      label = lv;
      firstInt ??= { line: i + 1, v: lv };
    } else if (typeof lv === 'string') {
      label = lv;
      firstStr ??= { line: i + 1, v: lv };
    } else throw new DataFormatError(`${at}: label "${lKey}" is ${show(lv)}; expected an integer or a string`);
    raw.push({ query, positive, label, line: i + 1 });
  }
  if (firstInt && firstStr) {
    throw new DataFormatError(
      `${name}: labels mix integers (line ${firstInt.line}: ${firstInt.v}) and strings (line ${firstStr.line}: ${show(firstStr.v)}); use one kind`,
    );
  }
  const ids = new Map<string | number, number>();
  const records = raw.map(({ query, positive, label }) => {
    if (typeof label === 'string') {
      let id = ids.get(label);
      if (id === undefined) ids.set(label, (id = ids.size));
      return { query, positive, label: id };
    }
    if (label !== null) ids.set(label, 0);
    return { query, positive, label };
  });
  const problems = records.length === 0 ? [`${name}: no records`] : [];
  return { format: 'jsonl', records, numClasses: ids.size, problems };
}

/** Throws unless the dataset has records: an empty file is an error naming it, not "0 images". */
export function requireRecords(ds: PairDataset, dataPath: string): void {
  if (ds.records.length > 0) return;
  const why = ds.problems.length ? ds.problems.join('; ') : 'no records';
  throw new DataFormatError(
    `${dataPath}: nothing to train or evaluate on (${why})` +
      (ds.format === 'jsonl' ? '; expected one JSON object {query_image, positive, label} per line' : ''),
  );
}

async function loadSop(source: DataSource, dir: string, seed: number, allowOutsideRoot: boolean): Promise<PairDataset> {
  const { train } = await prepareSop(subSource(source, dir), { seed, withVal: false, allowOutsideRoot });
  const file = joinPath(dir, 'Ebay_train.txt');
  const problems: string[] = [];
  if (train.singleImageClasses.length)
    problems.push(
      `${file}: skipped ${train.singleImageClasses.length} single-image classes: ${listSome(train.singleImageClasses)}`,
    );
  if (train.missing.length)
    problems.push(`${file}: skipped ${train.missing.length} missing image files: ${listSome(train.missing)}`);
  if (train.duplicates.length)
    problems.push(
      `${file}: ${train.duplicates.length} paths listed twice in a class (repeats dropped): ${listSome(train.duplicates)}`,
    );
  const records = train.pairs.map((p) => ({
    query: joinPath(dir, p.query),
    positive: joinPath(dir, p.positive),
    label: p.label,
  }));
  return { format: 'sop', records, numClasses: train.pairedClasses, problems };
}

/** Image files under `dir` (relative to it), subfolders included, in name order. */
async function walkImages(source: DataSource, dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await source.list(joinPath(dir, rel))) {
    if (e.name.startsWith('.')) continue;
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.dir) out.push(...(await walkImages(source, dir, p)));
    else if (isImageName(e.name)) out.push(p);
  }
  return out;
}

/** ImageFolder records, or null when no subfolder holds images (not this format). */
async function loadImageFolder(
  source: DataSource,
  dir: string,
  entries: { name: string; dir: boolean }[],
  seed: number,
): Promise<PairDataset | null> {
  const classes: { name: string; images: string[] }[] = [];
  const empty: string[] = [];
  for (const e of entries) {
    if (!e.dir || e.name.startsWith('.')) continue;
    const images = await walkImages(source, joinPath(dir, e.name));
    if (images.length) classes.push({ name: e.name, images: images.map((p) => joinPath(dir, e.name, p)) });
    else empty.push(e.name);
  }
  if (classes.length === 0) return null;
  const items = classes.flatMap((c, k) => c.images.map((path) => ({ classId: k, path })));
  const set = makePairs(items, seed);
  const problems: string[] = [];
  if (set.singleImageClasses.length) {
    problems.push(
      `${dir}: skipped ${set.singleImageClasses.length} single-image classes: ${listSome(set.singleImageClasses.map((k) => classes[k].name))}`,
    );
  }
  if (empty.length) problems.push(`${dir}: ${empty.length} subfolders without images ignored: ${listSome(empty)}`);
  const loose = entries.filter((e) => !e.dir && isImageName(e.name)).map((e) => e.name);
  if (loose.length)
    problems.push(`${dir}: ${loose.length} images outside class subfolders ignored: ${listSome(loose)}`);
  return { format: 'imagefolder', records: set.pairs, numClasses: set.pairedClasses, problems };
}

export interface ImageProblem {
  path: string;
  reason: string;
}

/** Decodes an encoded image (Node: decodeImageBytes from ./decode-node.ts); throws if it cannot. */
export type DecodeFn = (bytes: Uint8Array, name: string) => Promise<unknown>;

/**
 * The `validate_data` pass: reads and decodes every image the records name (each path once) and
 * returns the ones that are missing or unreadable, in record order. `concurrency` decodes run at
 * once (default 4); `onProgress(done, total)` after each. Once `signal` is aborted no new image
 * is started, and the problems among the images checked so far are returned.
 */
export async function validateImages(
  source: DataSource,
  records: readonly PairRecord[],
  decode: DecodeFn,
  opts: { concurrency?: number; onProgress?: (done: number, total: number) => void; signal?: AbortSignal } = {},
): Promise<ImageProblem[]> {
  const paths = [...new Set(records.flatMap((r) => [r.query, r.positive]))];
  const reasons = new Array<string | null>(paths.length).fill(null);
  const check = async (path: string): Promise<string | null> => {
    if (!(await source.exists(path))) return 'missing file';
    let bytes: Uint8Array;
    try {
      bytes = await source.readBytes(path);
    } catch (e) {
      return `cannot read the file (${(e as Error).message})`;
    }
    try {
      await decode(bytes, path);
      return null;
    } catch (e) {
      const msg = String((e as Error)?.message ?? e);
      return msg.startsWith(`${path}: `) ? msg.slice(path.length + 2) : msg;
    }
  };
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < paths.length && !opts.signal?.aborted) {
      const i = next++;
      reasons[i] = await check(paths[i]);
      opts.onProgress?.(++done, paths.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, worker));
  return paths.flatMap((path, i) => (reasons[i] === null ? [] : [{ path, reason: reasons[i] }]));
}

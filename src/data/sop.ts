/**
 * Stanford Online Products (SOP): the Ebay_train.txt / Ebay_test.txt lists and the pairing that
 * turns them into training records, shared by `vembed prepare sop` (src/cli/prepare.ts), the
 * dataset loader (./datasets.ts, which also pairs ImageFolder classes with makePairs) and the
 * evaluation code (readEbayList).
 *
 * List format: a header line `image_id class_id super_class_id path`, then one image per line,
 * four whitespace-separated fields, ids integers, path relative to the SOP root.
 *
 * Pairing (as vembed-factory's examples/prepare_sop_data.py, but reproducible and never an image
 * with itself): every image of a class with >= 2 images becomes one record {query: the image,
 * positive: another image of its class, label: class id}. The positive is drawn from a generator
 * seeded by (seed, class id) alone, so removing an image from one class (a missing file) or
 * holding out other classes does not change the pairs of the remaining classes. Single-image
 * classes are skipped and counted. No Node APIs here: files come through a DataSource.
 */
import { Rng } from '../util/random';
import { existingFiles, type DataSource } from '../platform/data-source';
import { outsideRootProblem } from '../util/paths';
import { VembedError } from '../util/errors';

export class DataFormatError extends VembedError {
  override name = 'DataFormatError';
}

export interface EbayRecord {
  imageId: number;
  classId: number;
  superClassId: number;
  /** Relative to the SOP root, as written in the list. */
  path: string;
}

export const EBAY_HEADER = ['image_id', 'class_id', 'super_class_id', 'path'] as const;

/** One training record: two images of the same class. Paths relative to the data root. */
export interface Pair {
  query: string;
  positive: string;
  label: number;
}

/** Parses an Ebay_*.txt list; `file` names it in errors (`file:line: ...`). Blank lines are
 *  skipped. A path must stay inside the list's folder unless `allowOutsideRoot`. */
export function readEbayList(text: string, file: string, allowOutsideRoot = false): EbayRecord[] {
  const lines = text.split(/\r?\n/);
  let i = 0;
  while (i < lines.length && lines[i].trim() === '') i++;
  const header = (lines[i] ?? '').trim().split(/\s+/);
  if (header.join(' ') !== EBAY_HEADER.join(' ')) {
    const got = i < lines.length ? `"${lines[i].trim()}"` : 'an empty file';
    throw new DataFormatError(
      `${file}:${Math.min(i, lines.length - 1) + 1}: expected the header line "${EBAY_HEADER.join(' ')}", got ${got}`,
    );
  }
  const out: EbayRecord[] = [];
  for (i++; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const f = line.split(/\s+/);
    if (f.length !== 4) {
      throw new DataFormatError(
        `${file}:${i + 1}: expected 4 fields (${EBAY_HEADER.join(' ')}), got ${f.length}: "${line}"`,
      );
    }
    const ids = f.slice(0, 3).map((s, k) => {
      if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s))) {
        throw new DataFormatError(`${file}:${i + 1}: ${EBAY_HEADER[k]} "${s}" is not a non-negative integer`);
      }
      return Number(s);
    });
    const outside = outsideRootProblem(
      f[3],
      'the folder of the list',
      allowOutsideRoot,
      'allow_absolute_paths: true (vembed eval: --allow_absolute_paths)',
    );
    if (outside) throw new DataFormatError(`${file}:${i + 1}: path ${outside}`);
    out.push({ imageId: ids[0], classId: ids[1], superClassId: ids[2], path: f[3] });
  }
  return out;
}

/**
 * One record per image path, for evaluation: a path listed twice would find itself as its own
 * nearest neighbour and inflate Recall@K. Repeats of a path with the same class are dropped and
 * counted; the same path under two classes is an error (which class is right cannot be known).
 */
export function uniqueEbayRecords(
  records: readonly EbayRecord[],
  file: string,
): { records: EbayRecord[]; repeats: number } {
  const first = new Map<string, EbayRecord>();
  const out: EbayRecord[] = [];
  for (const r of records) {
    const f = first.get(r.path);
    if (!f) {
      first.set(r.path, r);
      out.push(r);
    } else if (f.classId !== r.classId) {
      throw new DataFormatError(
        `${file}: ${r.path} is listed as class ${f.classId} (image_id ${f.imageId}) and as class ${r.classId} (image_id ${r.imageId}); an image can be in one class only`,
      );
    }
  }
  return { records: out, repeats: records.length - out.length };
}

export interface PairSet {
  pairs: Pair[];
  /** Images given (after nothing was removed). */
  images: number;
  /** Classes given. */
  classes: number;
  /** Classes that produced pairs (>= 2 distinct images). */
  pairedClasses: number;
  /** Class ids skipped because they have one image. */
  singleImageClasses: number[];
  /** Paths listed twice in the same class (the repeats are dropped, so no image meets itself). */
  duplicates: string[];
}

/** A generator seed from (seed, class id): each class draws its positives independently. */
function classSeed(seed: number, classId: number): number {
  let h =
    Math.imul(seed >>> 0, 0x9e3779b1) ^
    Math.imul(classId >>> 0, 0x85ebca77) ^
    Math.imul(Math.floor(classId / 2 ** 32), 0xc2b2ae3d);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}

/**
 * Pairs every image with another image of its class (see the file header). Records keep the
 * order of the input (classes in order of first appearance, images in list order within them).
 */
export function makePairs(records: readonly Pick<EbayRecord, 'classId' | 'path'>[], seed: number): PairSet {
  const byClass = new Map<number, string[]>();
  const listed = new Set<string>();
  const duplicates: string[] = [];
  for (const r of records) {
    let l = byClass.get(r.classId);
    if (!l) byClass.set(r.classId, (l = []));
    const key = `${r.classId}\0${r.path}`;
    if (listed.has(key)) duplicates.push(r.path);
    else {
      listed.add(key);
      l.push(r.path);
    }
  }
  const pos = new Map<string, string>();
  const singleImageClasses: number[] = [];
  let pairedClasses = 0;
  for (const [c, imgs] of byClass) {
    if (imgs.length < 2) {
      singleImageClasses.push(c);
      continue;
    }
    pairedClasses++;
    const rng = new Rng(classSeed(seed, c));
    for (let i = 0; i < imgs.length; i++) {
      let j = rng.int(imgs.length - 1);
      if (j >= i) j++;
      pos.set(`${c}\0${imgs[i]}`, imgs[j]);
    }
  }
  const pairs: Pair[] = [];
  const seen = new Set<string>();
  for (const r of records) {
    const key = `${r.classId}\0${r.path}`;
    const p = pos.get(key);
    if (p === undefined || seen.has(key)) continue;
    seen.add(key);
    pairs.push({ query: r.path, positive: p, label: r.classId });
  }
  return { pairs, images: records.length, classes: byClass.size, pairedClasses, singleImageClasses, duplicates };
}

/**
 * Splits records by whole classes: round(fraction * classes) classes (at least 1, at most all but
 * one) go to `val`, chosen by a shuffle seeded with `seed`; the rest to `train`. Order is kept.
 */
export function holdOutClasses<T extends { classId: number }>(
  records: readonly T[],
  fraction: number,
  seed: number,
): { train: T[]; val: T[]; valClasses: number[] } {
  if (!(fraction > 0 && fraction < 1))
    throw new DataFormatError(`val_from_train ${fraction}: expected a fraction between 0 and 1 (exclusive)`);
  const classes = [...new Set(records.map((r) => r.classId))].sort((a, b) => a - b);
  if (classes.length < 2)
    throw new DataFormatError(`val_from_train: need at least 2 classes to hold some out, got ${classes.length}`);
  const n = Math.min(classes.length - 1, Math.max(1, Math.round(fraction * classes.length)));
  const rng = new Rng(seed);
  for (let i = classes.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [classes[i], classes[j]] = [classes[j], classes[i]];
  }
  const val = new Set(classes.slice(0, n));
  return {
    train: records.filter((r) => !val.has(r.classId)),
    val: records.filter((r) => val.has(r.classId)),
    valClasses: [...val].sort((a, b) => a - b),
  };
}

/** One prepared split: where it came from, what was skipped, and its pairs. */
export interface SopSplit extends PairSet {
  /** The list it came from, e.g. "Ebay_train.txt" or "Ebay_train.txt (held-out classes)". */
  from: string;
  /** Listed images whose files do not exist (skipped before pairing). */
  missing: string[];
}

export interface PrepareSopOptions {
  /** Seed of the positive draws and of the held-out class choice. */
  seed: number;
  /** Hold out this fraction of the train split's classes as validation (instead of Ebay_test.txt). */
  valFromTrain?: number | null;
  /** Also prepare the validation split (default true). */
  withVal?: boolean;
  /** List paths may be absolute or lead out of the folder with ".." (default false). */
  allowOutsideRoot?: boolean;
}

async function readList(
  source: DataSource,
  name: string,
  required: string,
  allowOutsideRoot = false,
): Promise<EbayRecord[]> {
  if (!(await source.exists(name))) throw new DataFormatError(`${source.where}: no ${name} (${required})`);
  const where = source.where === '' || source.where === '.' ? name : `${source.where}/${name}`;
  return readEbayList(await source.readText(name), where, allowOutsideRoot);
}

async function pairSplit(source: DataSource, records: EbayRecord[], from: string, seed: number): Promise<SopSplit> {
  const present = await existingFiles(
    source,
    records.map((r) => r.path),
  );
  const missing = records.filter((r) => !present.has(r.path)).map((r) => r.path);
  const set = makePairs(
    records.filter((r) => present.has(r.path)),
    seed,
  );
  return { ...set, images: records.length, classes: new Set(records.map((r) => r.classId)).size, from, missing };
}

/**
 * Reads an SOP folder (the source's root) and pairs its splits: train from Ebay_train.txt; val
 * from Ebay_test.txt, or with `valFromTrain` from held-out whole classes of Ebay_train.txt (then
 * Ebay_test.txt is never read). Missing image files are skipped and listed.
 */
export async function prepareSop(
  source: DataSource,
  opts: PrepareSopOptions,
): Promise<{ train: SopSplit; val: SopSplit | null }> {
  const allow = opts.allowOutsideRoot ?? false;
  const trainList = await readList(source, 'Ebay_train.txt', 'not a Stanford Online Products folder?', allow);
  if (opts.withVal === false)
    return { train: await pairSplit(source, trainList, 'Ebay_train.txt', opts.seed), val: null };
  if (opts.valFromTrain != null) {
    const { train, val } = holdOutClasses(trainList, opts.valFromTrain, opts.seed);
    return {
      train: await pairSplit(source, train, 'Ebay_train.txt (remaining classes)', opts.seed),
      val: await pairSplit(source, val, 'Ebay_train.txt (held-out classes)', opts.seed),
    };
  }
  const testList = await readList(
    source,
    'Ebay_test.txt',
    'needed for the validation split; or hold out training classes with --val_from_train',
    allow,
  );
  return {
    train: await pairSplit(source, trainList, 'Ebay_train.txt', opts.seed),
    val: await pairSplit(source, testList, 'Ebay_test.txt', opts.seed),
  };
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** One line per split for the console: counts in, counts out, what was skipped and why. */
export function describeSplit(name: string, s: SopSplit, maxListed = 20): string {
  const skipped = [
    plural(s.singleImageClasses.length, 'single-image class', 'single-image classes'),
    plural(s.missing.length, 'missing file'),
    ...(s.duplicates.length ? [plural(s.duplicates.length, 'repeated path')] : []),
  ];
  const lines = [
    `${name}: ${plural(s.pairs.length, 'record')} in ${plural(s.pairedClasses, 'class', 'classes')} ` +
      `from ${s.from} (${plural(s.images, 'image')} in ${plural(s.classes, 'class', 'classes')} listed); skipped: ${skipped.join(', ')}`,
  ];
  for (const m of s.missing.slice(0, maxListed)) lines.push(`  missing: ${m}`);
  if (s.missing.length > maxListed) lines.push(`  ... and ${s.missing.length - maxListed} more missing files`);
  return lines.join('\n');
}

/** Pairs as JSONL text, one `{"query_image", "positive", "label"}` object per line. */
export function pairsToJsonl(pairs: readonly Pair[]): string {
  return pairs
    .map((p) => JSON.stringify({ query_image: p.query, positive: p.positive, label: p.label }) + '\n')
    .join('');
}

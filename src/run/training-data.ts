/**
 * A training run's data, prepared the same way by `vembed train` and the app before any GPU work:
 *   data_path read (JSONL, SOP folder or ImageFolder; src/data/datasets.ts), its problems told,
 *   an empty dataset refused; images named by the records but missing from the source found
 *   (one listing per folder) and their pairs dropped, all of them missing refused; with
 *   validate_data every image decoded once and the pairs of unreadable ones dropped; the
 *   val_data_path records read for the trainer's per-epoch validation (src/eval/jsonl.ts).
 * What happens is told through `onEvent`; each front end words it (stderr lines, the app's log).
 */
import type { TrainConfig } from '../config';
import {
  loadPairDataset,
  requireRecords,
  validateImages,
  type DecodeFn,
  type PairDataset,
  type PairRecord,
} from '../data/datasets';
import type { RgbImage } from '../data/image';
import type { Preprocessor } from '../data/preprocess';
import { existingFiles, type DataSource } from '../platform/data-source';
import { validateJsonl } from '../eval/jsonl';
import type { Vit } from '../model/vit';

export type DataEvent =
  /** A line of what loading data_path skipped or found odd. */
  | { kind: 'problem'; message: string }
  /** data_path read: its pairs (before missing images are dropped). */
  | { kind: 'loaded'; dataset: PairDataset; path: string }
  /** Images named by the records that the source lacks, and how many pairs were dropped. */
  | { kind: 'missing'; paths: string[]; dropped: number }
  | { kind: 'validate-progress'; done: number; total: number }
  /** validate_data: the unreadable images, and how many pairs were dropped (missing included). */
  | { kind: 'unreadable'; images: { path: string; error: string }[]; dropped: number }
  /** val_data_path read. */
  | { kind: 'validation'; pairs: number; path: string };

export interface TrainingData {
  records: PairRecord[];
  /** Images validate_data found unreadable (train_results.json lists them as skipped_images). */
  unreadable: { path: string; error: string }[];
  /** The trainer's per-epoch validation on val_data_path, or null. */
  validate: ((vit: Vit, pp: Preprocessor) => Promise<Record<string, number>>) | null;
}

export interface PrepareOptions {
  /** How images are read (its errors carry `path`) and decoded for validate_data. */
  load: (path: string) => Promise<RgbImage>;
  decode: DecodeFn;
  /** Where the paths are relative to, for the error when none exists ("the current folder /x"). */
  relativeTo: string;
  onEvent?: (e: DataEvent) => void;
}

/** `config.data_path` (and val_data_path) read from `source` as described above. */
export async function prepareTrainingData(
  source: DataSource,
  config: TrainConfig,
  o: PrepareOptions,
): Promise<TrainingData> {
  const say = o.onEvent ?? (() => {});
  const dataOpts = {
    imageRoot: config.image_root,
    columnMapping: config.column_mapping,
    seed: config.seed,
    allowOutsideRoot: config.allow_absolute_paths,
  };
  const ds = await loadPairDataset(source, { dataPath: config.data_path!, ...dataOpts });
  for (const p of ds.problems) say({ kind: 'problem', message: p });
  requireRecords(ds, config.data_path!);
  say({ kind: 'loaded', dataset: ds, path: config.data_path! });
  let records = ds.records;
  const paths = [...new Set(records.flatMap((r) => [r.query, r.positive]))];
  const found = await existingFiles(source, paths);
  const missing = paths.filter((p) => !found.has(p));
  if (missing.length === paths.length) {
    throw new Error(
      `none of the ${paths.length} images named by ${config.data_path} exist (first: ${missing[0]}, relative to ${o.relativeTo}); ` +
        'set image_root to the folder the paths start from',
    );
  }
  if (missing.length) {
    const miss = new Set(missing);
    records = records.filter((r) => !miss.has(r.query) && !miss.has(r.positive));
    say({ kind: 'missing', paths: missing, dropped: ds.records.length - records.length });
  }
  let unreadable: { path: string; error: string }[] = [];
  if (config.validate_data) {
    const problems = await validateImages(source, records, o.decode, {
      onProgress: (done, total) => say({ kind: 'validate-progress', done, total }),
    });
    unreadable = problems.map((p) => ({ path: p.path, error: p.reason }));
    const bad = new Set(problems.map((p) => p.path));
    records = records.filter((r) => !bad.has(r.query) && !bad.has(r.positive));
    say({ kind: 'unreadable', images: unreadable, dropped: ds.records.length - records.length });
  }
  let validate: TrainingData['validate'] = null;
  if (config.val_data_path) {
    const val = await loadPairDataset(source, { dataPath: config.val_data_path, ...dataOpts });
    requireRecords(val, config.val_data_path);
    say({ kind: 'validation', pairs: val.records.length, path: config.val_data_path });
    validate = (vit, pp) =>
      validateJsonl(vit, pp, val.records, o.load, { batchSize: config.eval_batch_size ?? config.batch_size });
  }
  return { records, unreadable, validate };
}

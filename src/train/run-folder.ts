/**
 * A training run's output folder, read through its CheckpointStore with every JSON file checked
 * by a zod schema (an error names the file, the key and what was expected):
 *   <output_dir>/train_results.json              TrainResults (src/train/run-writer.ts writes it)
 *   <output_dir>/train_config.yaml               the config the run was started with (text)
 *   <output_dir>/checkpoint-*\/trainer_state.json TrainerState (src/train/checkpoint.ts)
 * Both front ends and the trainer read runs through this (the CLI's output_dir, the app's OPFS
 * runs), so a damaged file reads the same everywhere.
 */
import { z } from 'zod';
import { parseTrainConfigYaml } from '../config';
import type { CheckpointStore } from './checkpoint';
import { VembedError } from '../util/errors';

const int = z.number().int().nonnegative();

/** trainer_state.json: where a checkpoint is in the run (see src/train/checkpoint.ts). */
export const TrainerStateSchema = z.object({
  /** Optimizer updates done. */
  step: int,
  /** 0-based epoch the next step belongs to, and batches of it already done. */
  epoch: int,
  batchInEpoch: int,
  seed: z.number().int(),
  /** Batches per epoch when saved (resume checks the data did not change). */
  stepsPerEpoch: int,
  numRecords: int,
});
export type TrainerState = z.infer<typeof TrainerStateSchema>;

/** Only the step of trainer_state.json (what finding the latest checkpoint needs). */
const StepOnly = z.looseObject({ step: int });

/** A measured number: JSON.stringify writes NaN (a step without a loss) as null; read back as NaN. */
const measured = z
  .number()
  .nullable()
  .transform((x) => x ?? NaN);

const LogRowSchema = z.object({
  step: int,
  epoch: int,
  loss: measured,
  lr: measured,
  grad_norm: measured,
  images_per_s: measured,
});
export type LogRow = z.output<typeof LogRowSchema>;

/** train_results.json. */
export const TrainResultsSchema = z.object({
  model: z.string(),
  steps: int,
  total_steps: int,
  epochs_done: int,
  stopped_early: z.boolean(),
  log: z.array(LogRowSchema),
  epochs: z.array(z.object({ epoch: int, mean_loss: measured, validation: z.record(z.string(), measured).nullable() })),
  skipped_images: z.array(z.object({ path: z.string(), error: z.string() })).default([]),
  final: z.object({ loss: z.number().nullable(), seconds: z.number(), checkpoint: z.string().nullable() }),
});
export type TrainResults = z.output<typeof TrainResultsSchema>;

export class RunFileError extends VembedError {
  override name = 'RunFileError';
}

const dec = new TextDecoder();

/** `bytes` (the file `file`) as JSON checked by `schema`; errors name the file and the key. */
export function parseRunJson<T>(bytes: Uint8Array, file: string, schema: z.ZodType<T, unknown>): T {
  let json: unknown;
  try {
    json = JSON.parse(dec.decode(bytes));
  } catch (e) {
    throw new RunFileError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const r = schema.safeParse(json);
  if (r.success) return r.data;
  throw new RunFileError(
    r.error.issues.map((i) => `${file}: "${i.path.join('.') || '(root)'}": ${i.message}`).join('\n'),
  );
}

/** The run folder of a store: typed reads of what the trainer wrote there. */
export class RunFolder {
  constructor(readonly store: CheckpointStore) {}

  get where(): string {
    return this.store.where;
  }

  private async json<T>(folder: string, name: string, schema: z.ZodType<T, unknown>): Promise<T> {
    const file = folder ? `${this.store.where}/${folder}/${name}` : `${this.store.where}/${name}`;
    return parseRunJson(await this.store.readFile(folder, name), file, schema);
  }

  /** trainer_state.json of a checkpoint folder. */
  trainerState(folder: string): Promise<TrainerState> {
    return this.json(folder, 'trainer_state.json', TrainerStateSchema);
  }

  /** The step of a checkpoint folder (only that key is required). */
  async checkpointStep(folder: string): Promise<number> {
    return (await this.json(folder, 'trainer_state.json', StepOnly)).step;
  }

  /** train_results.json, or null when the run has none yet. */
  async results(): Promise<TrainResults | null> {
    if (!(await this.store.hasFile('', 'train_results.json'))) return null;
    return this.json('', 'train_results.json', TrainResultsSchema);
  }

  /** train_results.json, or null when it is missing or damaged (history for charts, totals for lists). */
  async resultsIfReadable(): Promise<TrainResults | null> {
    return this.results().catch(() => null);
  }

  /** train_config.yaml as text, or null. */
  async configYaml(): Promise<string | null> {
    if (!(await this.store.hasFile('', 'train_config.yaml'))) return null;
    return dec.decode(await this.store.readFile('', 'train_config.yaml'));
  }

  /** model_name of train_config.yaml; null when the run has none or it cannot be read. */
  async trainedModelName(): Promise<string | null> {
    const yaml = await this.configYaml();
    if (yaml === null) return null;
    try {
      return parseTrainConfigYaml(yaml, 'train_config.yaml').config.model_name ?? null;
    } catch {
      return null; // an unreadable train_config.yaml: the checkpoint's shapes decide (merging checks them)
    }
  }

  /** The logged steps up to checkpoint `folder` (the charts of a resumed run); [] when unreadable. */
  async lossHistory(folder: string): Promise<{ step: number; loss: number; lr: number }[]> {
    try {
      const upTo = await this.checkpointStep(folder);
      return ((await this.results())?.log ?? [])
        .filter((r) => r.step <= upTo)
        .map((r) => ({ step: r.step, loss: r.loss, lr: r.lr }));
    } catch {
      return [];
    }
  }

  /** The newest checkpoint folder (highest step) of the run, or null. */
  async latestCheckpoint(): Promise<string | null> {
    let best: { name: string; step: number } | null = null;
    for (const name of await this.store.listFolders()) {
      if (!/^checkpoint-(step|epoch)-\d+$/.test(name)) continue;
      if (!(await this.store.hasFile(name, 'trainer_state.json'))) continue;
      const step = await this.checkpointStep(name);
      if (!best || step > best.step) best = { name, step };
    }
    return best?.name ?? null;
  }
}

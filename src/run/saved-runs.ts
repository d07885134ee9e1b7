/**
 * A training run's folder (any CheckpointStore: the app's OPFS runs/<name>, a folder in Node) as
 * the app uses it, read through RunFolder (src/train/run-folder.ts: zod-checked
 * trainer_state.json, train_results.json): what a saved run offers (its latest checkpoint and
 * step, whether it finished, its config), where a resumed run starts (the checkpoint and the
 * logged steps up to it), and its fine-tuned model (the latest checkpoint on the loaded base
 * model, ./model.ts). Listing and deleting the runs is the store's (the app's: OPFS).
 */
import type { LoadedCheckpoint } from '../model/load';
import type { CheckpointStore } from '../train/checkpoint';
import { RunFolder } from '../train/run-folder';
import { runModel } from './model';

/** A run with a checkpoint, as the app lists it. */
export interface RunSummary {
  run: string;
  checkpoint: string;
  step: number;
  totalSteps: number | null;
  finished: boolean;
  bytes: number;
  /** The config it was trained with (train_config.yaml), when saved. */
  yaml: string | null;
}

/** A run's latest checkpoint as a model. */
export interface FineTuned {
  ck: LoadedCheckpoint;
  /** "<run>/<checkpoint>". */
  name: string;
  /** Changes when the base model, the run or its checkpoint does (cache keys). */
  key: string;
  lora: boolean;
  store: CheckpointStore;
  folder: string;
}

/** Where a training run writes, what it resumes, and the loss history for the charts. */
export interface RunStart {
  store: CheckpointStore;
  resume: { store: CheckpointStore; folder: string } | null;
  history: { step: number; loss: number; lr: number }[];
}

/** The run `run` in `store` (`bytes` on disk), or null when it has no checkpoint. */
export async function runSummary(store: CheckpointStore, run: string, bytes: number): Promise<RunSummary | null> {
  const folderRun = new RunFolder(store);
  const folder = await folderRun.latestCheckpoint().catch(() => null);
  if (!folder) return null;
  const step = await folderRun.checkpointStep(folder);
  const total = (await folderRun.resultsIfReadable())?.total_steps ?? null;
  return {
    run,
    checkpoint: folder,
    step,
    totalSteps: total,
    finished: total !== null && step >= total,
    bytes,
    yaml: await folderRun.configYaml(),
  };
}

/**
 * Where `run` (in `store`) trains: from scratch (`want` null), or resumed (`want`: 'latest' or a
 * checkpoint path) from its checkpoint, with the logged steps up to it.
 */
export async function runStart(store: CheckpointStore, run: string, want: string | null): Promise<RunStart> {
  if (!want) return { store, resume: null, history: [] };
  const folderRun = new RunFolder(store);
  const folder = want === 'latest' ? await folderRun.latestCheckpoint() : want.split('/').pop()!;
  if (!folder) throw new Error(`nothing to resume: run ${run} has no checkpoint in this browser`);
  return { store, resume: { store, folder }, history: await folderRun.lossHistory(folder) };
}

/**
 * The latest checkpoint of `run` (its store from `storeOf`) on the loaded `model`; `why` says why
 * there is none (no run or checkpoint yet, or the run was trained on another model than the one
 * loaded).
 */
export async function fineTunedModel(
  model: { key: string; name: string; ck: LoadedCheckpoint } | null,
  run: string | null,
  storeOf: (run: string) => CheckpointStore,
): Promise<{ ft: FineTuned | null; why: string }> {
  if (!model) return { ft: null, why: 'no model loaded' };
  if (!run) return { ft: null, why: 'no fine-tuned checkpoint yet: train (or resume a saved run) to compare' };
  const store = storeOf(run);
  const m = await runModel(model.ck, model.name, store, run);
  if ('why' in m) return { ft: null, why: m.why };
  const { folder, step } = m;
  return {
    ft: {
      ck: m.ck,
      lora: m.lora,
      name: `${run}/${folder}`,
      key: `${model.key}|${run}|${folder}|${step}`,
      store,
      folder,
    },
    why: '',
  };
}

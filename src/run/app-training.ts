/**
 * Before an app training run steps (the engine worker's Start): the editor's YAML checked (its
 * notes told), model_name set to the loaded model, data_path / image_root / val_data_path found
 * inside the picked folder (leading folders dropped if needed: a config pasted from vembed-factory
 * names data/sop/train.jsonl), and the data prepared as `vembed train` prepares it
 * (./training-data.ts), each step told through `info` (the app's log); then the run's folder
 * (fresh or resumed, from the front end's store) and the pausable ./training-session.ts over all
 * of it. The decoder is passed in (the browser's createImageBitmap in the worker).
 */
import { checkReadyToTrain, ConfigError, type TrainConfig } from '../config';
import type { RgbImage } from '../data/image';
import type { Gpu } from '../gpu/device';
import type { LoadedCheckpoint } from '../model/load';
import type { DataSource } from '../platform/data-source';
import { checkConfigYaml, runName } from './config-check';
import { imageLoader, resolveInSource, type OpenDataset } from './dataset';
import type { RunStart } from './saved-runs';
import { prepareTrainingData, type TrainingData } from './training-data';
import { TrainingSession, type TrainUpdate } from './training-session';

/** A path of the config inside the dataset folder (leading folders dropped if needed). */
async function resolve(
  source: DataSource,
  key: string,
  path: string,
  folder: boolean,
  info: (message: string) => void,
): Promise<string> {
  const p = await resolveInSource(source, path, folder);
  if (p === null)
    throw new ConfigError(
      `${key}: ${path} is not in the dataset folder ${source.where} (paths in the config are relative to the chosen folder)`,
    );
  if (p !== path) info(`${key}: ${path} read as ${p} in ${source.where}`);
  return p;
}

/** The config of `yaml` for training `modelName` on `data`. */
export async function appTrainConfig(
  yaml: string,
  data: OpenDataset,
  modelName: string,
  info: (message: string) => void,
): Promise<TrainConfig> {
  const checked = checkConfigYaml(yaml);
  if (!checked.config)
    throw new ConfigError(checked.problems.map((p) => (p.line ? `line ${p.line}: ${p.message}` : p.message)));
  const config: TrainConfig = { ...checked.config };
  for (const n of checked.notes) info(n);
  if (config.model_name !== modelName) {
    if (config.model_name) info(`model_name ${config.model_name}: training the loaded model ${modelName} instead`);
    config.model_name = modelName;
  }
  const src = data.source;
  config.data_path = await resolve(src, 'data_path', config.data_path ?? data.info.dataPath, false, info);
  if (config.image_root) config.image_root = await resolve(src, 'image_root', config.image_root, true, info);
  if (config.val_data_path)
    config.val_data_path = await resolve(src, 'val_data_path', config.val_data_path, false, info);
  checkReadyToTrain(config);
  return config;
}

/** The training data of `config` in the dataset folder (images decoded by `decode`), what was dropped told. */
export function appTrainingData(
  data: OpenDataset,
  config: TrainConfig,
  decode: (bytes: Uint8Array, path: string) => Promise<RgbImage>,
  info: (message: string) => void,
): Promise<TrainingData> {
  return prepareTrainingData(data.source, config, {
    load: imageLoader(data.source, decode),
    decode,
    relativeTo: `the dataset folder ${data.source.where}`,
    onEvent: (e) => {
      if (e.kind === 'problem') info(`data: ${e.message}`);
      else if (e.kind === 'missing')
        info(`data: ${e.paths.length} missing images; ${e.dropped} pairs dropped (first: ${e.paths[0]})`);
      else if (e.kind === 'unreadable')
        info(`validate_data: ${e.images.length} unreadable images; ${e.dropped} pairs dropped`);
    },
  });
}

/** What the app trains: the YAML on the open dataset with the loaded model, and where its runs go. */
export interface AppTrainingOptions {
  gpu: Gpu;
  data: OpenDataset;
  ck: LoadedCheckpoint;
  modelName: string;
  yaml: string;
  /** Continue the run's latest checkpoint (also what `resume_from_checkpoint: latest` asks). */
  resume: boolean;
  decode: (bytes: Uint8Array, path: string) => Promise<RgbImage>;
  /** The folder of `run`: a fresh start (`want` null) or the checkpoint to resume. */
  openRun: (run: string, want: string | null, info: (message: string) => void) => Promise<RunStart>;
  onUpdate: (u: TrainUpdate) => void;
}

/** The session of an app training run, its config and data prepared and its folder open (not started). */
export async function appTrainingSession(o: AppTrainingOptions): Promise<TrainingSession> {
  const info = (message: string) => o.onUpdate({ kind: 'info', message });
  const config = await appTrainConfig(o.yaml, o.data, o.modelName, info);
  const { records, unreadable, validate } = await appTrainingData(o.data, config, o.decode, info);
  const run = runName(config.output_dir);
  const want = o.resume ? 'latest' : config.resume_from_checkpoint;
  const { store, resume, history } = await o.openRun(run, want, info);
  return new TrainingSession({
    gpu: o.gpu,
    checkpoint: o.ck,
    config,
    records,
    load: imageLoader(o.data.source, o.decode),
    store,
    run,
    resume,
    validate,
    unreadable,
    history,
    onUpdate: o.onUpdate,
  });
}

/**
 * Before an app training run steps: the editor's YAML checked (its notes told), model_name set to
 * the loaded model, data_path / image_root / val_data_path found inside the picked folder (leading
 * folders dropped if needed: a config pasted from vembed-factory names data/sop/train.jsonl), and
 * the data prepared as `vembed train` prepares it (src/run/training-data.ts), told as 'info'
 * updates.
 */
import { checkReadyToTrain, ConfigError, type TrainConfig } from '../config';
import { decodeImageBytes } from '../data/decode-browser';
import type { DataSource } from '../platform/data-source';
import { resolveInSource, type OpenDataset } from '../run/dataset';
import type { TrainUpdate } from '../run/training-session';
import { prepareTrainingData, type TrainingData } from '../run/training-data';
import { checkConfigYaml } from '../run/config-check';
import { loadImage } from './data';

/** A path of the config inside the dataset folder (leading folders dropped if needed). */
async function resolve(
  source: DataSource,
  key: string,
  path: string,
  folder: boolean,
  send: (u: TrainUpdate) => void,
): Promise<string> {
  const p = await resolveInSource(source, path, folder);
  if (p === null)
    throw new ConfigError(
      `${key}: ${path} is not in the dataset folder ${source.where} (paths in the config are relative to the chosen folder)`,
    );
  if (p !== path) send({ kind: 'info', message: `${key}: ${path} read as ${p} in ${source.where}` });
  return p;
}

/** The config of `yaml` for training `modelName` on `data`. */
export async function appTrainConfig(
  yaml: string,
  data: OpenDataset,
  modelName: string,
  send: (u: TrainUpdate) => void,
): Promise<TrainConfig> {
  const checked = checkConfigYaml(yaml);
  if (!checked.config)
    throw new ConfigError(checked.problems.map((p) => (p.line ? `line ${p.line}: ${p.message}` : p.message)));
  const config: TrainConfig = { ...checked.config };
  for (const n of checked.notes) send({ kind: 'info', message: n });
  if (config.model_name !== modelName) {
    if (config.model_name)
      send({
        kind: 'info',
        message: `model_name ${config.model_name}: training the loaded model ${modelName} instead`,
      });
    config.model_name = modelName;
  }
  const src = data.source;
  config.data_path = await resolve(src, 'data_path', config.data_path ?? data.info.dataPath, false, send);
  if (config.image_root) config.image_root = await resolve(src, 'image_root', config.image_root, true, send);
  if (config.val_data_path)
    config.val_data_path = await resolve(src, 'val_data_path', config.val_data_path, false, send);
  checkReadyToTrain(config);
  return config;
}

/** The training data of `config` in the dataset folder, what was dropped told as 'info' updates. */
export function appTrainingData(
  data: OpenDataset,
  config: TrainConfig,
  send: (u: TrainUpdate) => void,
): Promise<TrainingData> {
  const info = (message: string) => send({ kind: 'info', message });
  return prepareTrainingData(data.source, config, {
    load: (p) => loadImage(data.source, p),
    decode: decodeImageBytes,
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

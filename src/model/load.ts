/**
 * Loading a Hugging Face model folder (config.json + model.safetensors, or a sharded
 * model.safetensors.index.json + shards; else PyTorch's pytorch_model.bin or a sharded
 * pytorch_model.bin.index.json, read by src/io/torch-bin.ts) from any file source: a Node
 * directory, browser file handles, or the IndexedDB cache. Errors name the file. Shards named by
 * an index must be files of the folder itself (no absolute path, no ".."); weights with NaN/Inf
 * are refused (./weights.ts).
 */
import { preprocessorFromConfig, type Preprocessor } from '../data/preprocess';
import { parseTensorFile, type TensorFile } from '../io/tensor-file';
import { plainRelativePath } from '../util/paths';
import { parseModelConfig, type VitSpec } from './config';
import { collectWeights } from './weights';
import { VembedError } from '../util/errors';
import type { FileSource } from '../platform/file-source';

export type { FileSource };

export class ModelLoadError extends VembedError {
  override name = 'ModelLoadError';
}

export interface LoadedCheckpoint {
  spec: VitSpec;
  weights: Map<string, Float32Array>;
  config: Record<string, unknown>;
  preprocessor: Record<string, unknown> | null;
}

/**
 * How the model `ck` (named `where` in errors: its folder, hub id or run) resizes images: its
 * preprocessor_config.json, which every model that embeds images must have.
 */
export function checkpointPreprocessor(ck: LoadedCheckpoint, where: string): Preprocessor {
  if (!ck.preprocessor) throw new Error(`${where}: no preprocessor_config.json; cannot know how to resize images`);
  return preprocessorFromConfig(ck.preprocessor, ck.spec.family, `${where}/preprocessor_config.json`);
}

async function readJson(src: FileSource, name: string): Promise<Record<string, unknown>> {
  const text = new TextDecoder().decode(await src.bytes(name));
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new ModelLoadError(`${src.where}/${name}: not valid JSON (${(e as Error).message})`);
  }
}

/** Weight files of a model folder, in the order transformers prefers them. */
export const WEIGHT_FILES = [
  'model.safetensors',
  'model.safetensors.index.json',
  'pytorch_model.bin',
  'pytorch_model.bin.index.json',
] as const;

/** Names of the weight files: one model.safetensors or pytorch_model.bin, or the shards of an index. */
export async function weightFiles(src: FileSource): Promise<string[]> {
  for (const name of WEIGHT_FILES) {
    if (!(await src.exists(name))) continue;
    if (!name.endsWith('.index.json')) return [name];
    const idx = await readJson(src, name);
    const map = idx.weight_map as Record<string, string> | undefined;
    if (!map || typeof map !== 'object') {
      throw new ModelLoadError(`${src.where}/${name}: no "weight_map" object`);
    }
    const files = [...new Set(Object.values(map))].sort();
    // A shard is a file of this folder: never an absolute path or one that climbs out with "..".
    const bad = Object.entries(map).find(([, f]) => typeof f !== 'string' || !plainRelativePath(f));
    if (bad) {
      throw new ModelLoadError(
        `${src.where}/${name}: weight_map "${bad[0]}" names ${JSON.stringify(bad[1])}; ` +
          'expected a file name inside the model folder (no absolute path, no "..")',
      );
    }
    return files;
  }
  throw new ModelLoadError(`${src.where}: no ${WEIGHT_FILES.join(', ')} (a Hugging Face model folder is expected)`);
}

export async function loadCheckpoint(src: FileSource): Promise<LoadedCheckpoint> {
  if (!(await src.exists('config.json'))) {
    throw new ModelLoadError(`${src.where}: no config.json (a Hugging Face model folder is expected)`);
  }
  const config = await readJson(src, 'config.json');
  const spec = parseModelConfig(config, `${src.where}/config.json`);
  const preprocessor = (await src.exists('preprocessor_config.json'))
    ? await readJson(src, 'preprocessor_config.json')
    : null;
  const files: TensorFile[] = [];
  for (const name of await weightFiles(src)) {
    files.push(parseTensorFile(await src.bytes(name), name, `${src.where}/${name}`));
  }
  return { spec, weights: collectWeights(spec, files), config, preprocessor };
}

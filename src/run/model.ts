/**
 * A fine-tuned checkpoint as a model, the same for the `vembed` CLI (a checkpoint folder on
 * disk) and the app (a run's checkpoint in OPFS): the base model with the folder's PEFT adapter
 * merged (LoRA runs), or the folder's full weights (use_lora false). The base model itself is
 * found by the front end (the CLI: --base_model, base_model_name_or_path, a hub id; the app: the
 * model it has loaded). Also what the app shows of a loaded model (describeModel).
 */
import { outputSize, preprocessorFromConfig } from '../data/preprocess';
import { loadCheckpoint, WEIGHT_FILES, type FileSource, type LoadedCheckpoint } from '../model/load';
import { loadAdapter, mergeAdapter, modulePaths, type Adapter } from '../model/lora';
import type { CheckpointStore } from '../train/checkpoint';
import { RunFolder } from '../train/run-folder';

/** A FileSource over one folder of a CheckpointStore. */
export function storeFolderSource(store: CheckpointStore, folder: string): FileSource {
  return {
    where: `${store.where}/${folder}`,
    exists: (n) => store.hasFile(folder, n),
    bytes: (n) => store.readFile(folder, n),
  };
}

/** The base weights with `adapter` merged, leaving `base` untouched (only merged tensors are copied). */
export function mergedWeights(base: LoadedCheckpoint, adapter: Adapter): Map<string, Float32Array> {
  const weights = new Map(base.weights);
  const paths = modulePaths(base.spec);
  for (const m of adapter.modules) {
    const where = paths.get(m.path);
    if (!where) continue; // mergeAdapter names the module in its error
    for (const kind of ['w', 'b']) {
      const role = `layer.${where.layer}.${where.role}.${kind}`;
      const t = weights.get(role);
      if (t) weights.set(role, t.slice());
    }
  }
  mergeAdapter(base.spec, weights, adapter);
  return weights;
}

/**
 * `base` with the PEFT adapter of the folder `src` merged (`base` untouched); the folder's
 * preprocessor_config.json stands in when the base has none.
 */
export async function withAdapter(
  base: LoadedCheckpoint,
  src: FileSource,
): Promise<{ ck: LoadedCheckpoint; adapter: Adapter }> {
  const adapter = await loadAdapter(src);
  const ck = { ...base, weights: mergedWeights(base, adapter) };
  if (!ck.preprocessor && (await src.exists('preprocessor_config.json'))) {
    ck.preprocessor = JSON.parse(new TextDecoder().decode(await src.bytes('preprocessor_config.json'))) as Record<
      string,
      unknown
    >;
  }
  return { ck, adapter };
}

/**
 * The model of a checkpoint folder: the base with its PEFT adapter merged (LoRA runs), or its
 * full weights (use_lora false). `lora` says which it was.
 */
export async function checkpointModel(
  base: LoadedCheckpoint,
  src: FileSource,
): Promise<{ ck: LoadedCheckpoint; lora: boolean; adapter: Adapter | null }> {
  if (await src.exists('adapter_config.json')) {
    const { ck, adapter } = await withAdapter(base, src);
    return { ck, lora: true, adapter };
  }
  if ((await Promise.all(WEIGHT_FILES.map((f) => src.exists(f)))).some(Boolean)) {
    const ck = await loadCheckpoint(src);
    return { ck: { ...ck, preprocessor: ck.preprocessor ?? base.preprocessor }, lora: false, adapter: null };
  }
  throw new Error(
    `${src.where}: neither adapter_config.json nor model weights (${WEIGHT_FILES.join(', ')}); not a checkpoint`,
  );
}

/**
 * The latest checkpoint of the run in `store` (named `run`) on the base model `base` (named
 * `baseName`), with the folder and its step; or why there is none (no checkpoint yet, or the run
 * was trained on another model than `baseName`).
 */
export async function runModel(
  base: LoadedCheckpoint,
  baseName: string,
  store: CheckpointStore,
  run: string,
): Promise<{ ck: LoadedCheckpoint; lora: boolean; folder: string; step: number } | { why: string }> {
  const folderRun = new RunFolder(store);
  const folder = await folderRun.latestCheckpoint();
  if (!folder) return { why: `run ${run} has no checkpoint yet` };
  const trained = await folderRun.trainedModelName();
  if (trained && trained !== baseName)
    return {
      why: `run ${run} was trained on ${trained}, not on the loaded ${baseName}: load that model to use the run`,
    };
  const m = await checkpointModel(base, storeFolderSource(store, folder));
  return { ck: m.ck, lora: m.lora, folder, step: await folderRun.checkpointStep(folder) };
}

/** A loaded model as the app shows it. */
export interface ModelInfo {
  /** The name used as model_name (hub id, folder name, or the demo's id). */
  name: string;
  /** Where it came from (the app's ModelInput kinds; 'folder' in Node). */
  kind: 'demo' | 'hub' | 'handle' | 'files' | 'folder';
  family: string;
  hidden: number;
  layers: number;
  heads: number;
  patch: number;
  /** Input size from preprocessor_config.json, e.g. "224x224". */
  inputSize: string;
  params: number;
  bytes: number;
}

export function describeModel(name: string, kind: ModelInfo['kind'], ck: LoadedCheckpoint): ModelInfo {
  const s = ck.spec;
  let params = 0;
  for (const w of ck.weights.values()) params += w.length;
  let inputSize = `${s.imageSize}x${s.imageSize}`;
  if (ck.preprocessor) {
    try {
      const o = outputSize(preprocessorFromConfig(ck.preprocessor, s.family), 640, 480);
      inputSize = `${o.height}x${o.width}`;
    } catch {
      // the trainer reports a bad preprocessor_config.json when it matters
    }
  }
  return {
    name,
    kind,
    family: s.family,
    hidden: s.hidden,
    layers: s.layers,
    heads: s.heads,
    patch: s.patch,
    inputSize,
    params,
    bytes: params * 4,
  };
}

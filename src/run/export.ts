/**
 * What leaves a run: the files of a fine-tuned model, the same for `vembed merge` (a folder on
 * disk) and the app's Export (Blobs to download or write into a picked folder):
 *   merged   config.json + preprocessor_config.json + model.safetensors (Hugging Face names;
 *            loadable with AutoModel and as a plain model here)
 *   adapter  adapter_config.json + adapter_model.safetensors of a LoRA checkpoint (PEFT)
 *   both     with the run's train_config.yaml and train_results.json when it has them
 */
import { writeSafetensors } from '../io/safetensors';
import type { LoadedCheckpoint } from '../model/load';
import { weightsToTensors } from '../model/weights';
import type { CheckpointStore } from '../train/checkpoint';

export type ExportKind = 'adapter' | 'merged';

export interface ExportedFile {
  name: string;
  bytes: Uint8Array;
  /** MIME type. */
  type: string;
}

/** The files of a merged model (config.json, preprocessor_config.json when known, model.safetensors). */
export function mergedModelFiles(ck: LoadedCheckpoint): Map<string, Uint8Array> {
  const enc = new TextEncoder();
  return new Map<string, Uint8Array>([
    ['config.json', enc.encode(JSON.stringify(ck.config, null, 2))],
    ...(ck.preprocessor
      ? [['preprocessor_config.json', enc.encode(JSON.stringify(ck.preprocessor, null, 2))] as [string, Uint8Array]]
      : []),
    ['model.safetensors', writeSafetensors(weightsToTensors(ck.spec, ck.weights), { format: 'pt' })],
  ]);
}

const typeOf = (name: string) =>
  name.endsWith('.json') ? 'application/json' : name.endsWith('.yaml') ? 'text/yaml' : 'application/octet-stream';

/**
 * The export of checkpoint `folder` of the run in `store` (`run` names it in errors): `ft` is its
 * model (src/run/model.ts checkpointModel), `lora` whether it holds an adapter.
 */
export async function exportRun(
  kind: ExportKind,
  run: string,
  store: CheckpointStore,
  folder: string,
  ft: { ck: LoadedCheckpoint; lora: boolean },
): Promise<ExportedFile[]> {
  const files: ExportedFile[] = [];
  const add = (name: string, bytes: Uint8Array) => files.push({ name, bytes, type: typeOf(name) });
  if (kind === 'adapter') {
    if (!ft.lora)
      throw new Error(`${run} trained all weights (use_lora: false), so there is no adapter: export the merged model`);
    for (const name of ['adapter_config.json', 'adapter_model.safetensors'])
      add(name, await store.readFile(folder, name));
  } else {
    for (const [name, bytes] of mergedModelFiles(ft.ck)) add(name, bytes);
  }
  for (const name of ['train_config.yaml', 'train_results.json']) {
    if (await store.hasFile('', name)) add(name, await store.readFile('', name));
  }
  return files;
}

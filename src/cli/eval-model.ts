/**
 * The model `vembed eval sop` and `vembed train` with lr=0 evaluate: a model folder, a hub id, or
 * a checkpoint folder with a PEFT adapter (adapter_config.json), whose base model is found here
 * and the adapter merged by src/run/model.ts.
 */
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { loadCheckpoint, type LoadedCheckpoint } from '../model/load';
import { dirSource } from '../platform/file-source-node';
import { withAdapter } from '../run/model';
import { resolveCheckpointPath } from './checkpoint-path';
import { resolveModel } from './model-arg';

export async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isDirectory() ?? false;
}
export async function isFile(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isFile() ?? false;
}

/**
 * A model folder, a hub id, or a checkpoint folder with a PEFT adapter (adapter_config.json):
 * then the base model is `base_model_name_or_path` (or --base_model), tried as given, then
 * relative to the checkpoint folder, then as a hub id; the adapter is merged into it.
 */
export async function loadEvalModel(
  modelPath: string,
  baseModel: string | undefined,
  token: string | undefined,
  log: (l: string) => void,
): Promise<{ ck: LoadedCheckpoint; base: string | null }> {
  const renamed = (e: unknown): never => {
    const m = (e as Error).message;
    throw new Error(m.startsWith('--model ') ? `--model_path ${m.slice(8)}` : m);
  };
  modelPath = await resolveCheckpointPath(modelPath, log);
  if ((await isDir(modelPath)) && (await isFile(join(modelPath, 'adapter_config.json')))) {
    const cfgFile = join(modelPath, 'adapter_config.json');
    let cfg: Record<string, unknown>;
    try {
      cfg = JSON.parse(await readFile(cfgFile, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`${cfgFile}: not valid JSON (${(e as Error).message})`, { cause: e });
    }
    let base = baseModel ?? (typeof cfg.base_model_name_or_path === 'string' ? cfg.base_model_name_or_path : '');
    if (!base) throw new Error(`${cfgFile}: no "base_model_name_or_path"; name the base model with --base_model`);
    if (!baseModel && !isAbsolute(base) && !(await isDir(base)) && (await isDir(join(modelPath, base))))
      base = join(modelPath, base);
    let ck: LoadedCheckpoint;
    try {
      ck = await loadCheckpoint(await resolveModel(base, token));
    } catch (e) {
      const m = (e as Error).message.replace(/^--model /, '');
      throw new Error(
        `base model of ${modelPath} (${baseModel ? '--base_model' : `"base_model_name_or_path" in ${cfgFile}`}): ${m}`,
        { cause: e },
      );
    }
    const merged = await withAdapter(ck, dirSource(modelPath));
    log(`merged ${merged.adapter.modules.length} LoRA modules from ${modelPath} into ${base}`);
    return { ck: merged.ck, base };
  }
  if (baseModel)
    throw new Error(`--base_model is for a checkpoint with a PEFT adapter; ${modelPath} has no adapter_config.json`);
  const src = await resolveModel(modelPath, token).catch(renamed);
  return { ck: await loadCheckpoint(src), base: null };
}

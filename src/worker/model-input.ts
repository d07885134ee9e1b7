/**
 * Where the app's model comes from (the engine worker's Load model): the bundled demo, a hub id
 * downloaded into the IndexedDB cache (src/run/model-download.ts: progress summed over the files;
 * cancel keeps what arrived and the next load resumes it), a picked folder handle or the files of
 * an `<input webkitdirectory>`. Loaded with its name, its preprocessor checked.
 */
import { directorySource, postedFilesSource } from '../platform/data-source-browser';
import type { IdbModelCache } from '../hub/cache-browser';
import { checkpointPreprocessor, loadCheckpoint, type FileSource, type LoadedCheckpoint } from '../model/load';
import { cachedFromUrl } from '../hub/cache-from-url';
import { DEMO_MODEL_ID } from '../run/presets';
import { downloadModel } from '../run/model-download';
import type { DownloadProgress, ModelInput } from './protocol';
import { fileSourceOf } from '../platform/data-source-http';

/** The model `input` names, as files; `signal` cancels a hub download. */
async function modelSource(
  input: ModelInput,
  cache: IdbModelCache,
  demoBase: string,
  signal: AbortSignal,
  onProgress?: (p: DownloadProgress) => void,
): Promise<{ src: FileSource; name: string }> {
  if (input.kind === 'demo') return { src: await cachedFromUrl(cache, DEMO_MODEL_ID, demoBase), name: DEMO_MODEL_ID };
  if (input.kind === 'hub') {
    const id = input.id.trim();
    const o = { token: input.token || null, endpoint: input.endpoint || undefined, signal };
    return { src: await downloadModel(id, cache, o, onProgress), name: id };
  }
  if (input.kind === 'handle') return { src: fileSourceOf(directorySource(input.handle)), name: input.handle.name };
  const ds = postedFilesSource(input.files, input.paths);
  return { src: fileSourceOf(ds), name: ds.where || 'local model' };
}

/** The model `input` names (arguments as modelSource's), loaded (its preprocessor_config.json checked), and its name. */
export async function loadModelInput(
  ...args: Parameters<typeof modelSource>
): Promise<{ ck: LoadedCheckpoint; name: string }> {
  const { src, name } = await modelSource(...args);
  const ck = await loadCheckpoint(src);
  checkpointPreprocessor(ck, name);
  return { ck, name };
}

/**
 * Where the app's model comes from (the engine worker's Load model): the bundled demo, a hub id
 * downloaded into the IndexedDB cache (progress at most every 100 ms, the latest always
 * delivered; cancel keeps what arrived and the next load resumes it), a picked folder handle or
 * the files of an `<input webkitdirectory>`. Returns the FileSource and the model's name.
 */
import { directorySource, postedFilesSource } from '../platform/data-source-browser';
import type { IdbModelCache } from '../hub/cache-browser';
import { ensureModel, HubError } from '../hub/download';
import type { FileSource } from '../model/load';
import { cachedFromUrl } from '../hub/cache-from-url';
import { DEMO_MODEL_ID } from '../run/presets';
import { throttled } from '../util/throttle';
import type { DownloadProgress, ModelInput } from './protocol';
import { fileSourceOf } from '../platform/data-source-http';

/** A hub model into the cache, with download progress summed over its files. */
async function hubModel(
  id: string,
  input: Extract<ModelInput, { kind: 'hub' }>,
  cache: IdbModelCache,
  signal: AbortSignal,
  onProgress?: (p: DownloadProgress) => void,
): Promise<FileSource> {
  const sizes = new Map<string, { bytes: number; total: number | null }>();
  const progress = throttled((p: DownloadProgress) => onProgress?.(p), 100);
  try {
    return await ensureModel(id, cache, {
      token: input.token || null,
      signal,
      endpoint: input.endpoint || undefined,
      onProgress: (p) => {
        sizes.set(p.file, { bytes: p.bytes, total: p.total });
        let allBytes = 0,
          allTotal: number | null = 0;
        for (const s of sizes.values()) {
          allBytes += s.bytes;
          allTotal = allTotal === null || s.total === null ? null : allTotal + s.total;
        }
        progress.send({ ...p, allBytes, allTotal });
      },
    });
  } catch (e) {
    if (signal.aborted)
      throw new Error(`download of ${id} cancelled; what arrived is kept, and the next Load model resumes it`, {
        cause: e,
      });
    if (e instanceof HubError) throw new Error(e.message, { cause: e });
    throw e;
  } finally {
    progress.cancel();
  }
}

/** The model `input` names, as files; `signal` cancels a hub download. */
export async function modelSource(
  input: ModelInput,
  cache: IdbModelCache,
  demoBase: string,
  signal: AbortSignal,
  onProgress?: (p: DownloadProgress) => void,
): Promise<{ src: FileSource; name: string }> {
  if (input.kind === 'demo') return { src: await cachedFromUrl(cache, DEMO_MODEL_ID, demoBase), name: DEMO_MODEL_ID };
  if (input.kind === 'hub') {
    const id = input.id.trim();
    return { src: await hubModel(id, input, cache, signal, onProgress), name: id };
  }
  if (input.kind === 'handle') return { src: fileSourceOf(directorySource(input.handle)), name: input.handle.name };
  const ds = postedFilesSource(input.files, input.paths);
  return { src: fileSourceOf(ds), name: ds.where || 'local model' };
}

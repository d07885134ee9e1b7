/**
 * Where the app's model comes from (the engine worker's Load model): the bundled demo, a hub id
 * downloaded into the IndexedDB cache (progress at most every 100 ms, the latest always
 * delivered; cancel keeps what arrived and the next load resumes it), a picked folder handle or
 * the files of an `<input webkitdirectory>`. Returns the FileSource and the model's name.
 */
import { directorySource, fileListSource } from '../data/source-browser';
import type { IdbModelCache } from '../hub/cache-idb';
import { ensureModel, HubError } from '../hub/download';
import type { FileSource } from '../model/load';
import { demoModelSource } from './models';
import { DEMO_MODEL_ID } from '../run/presets';
import type { DownloadProgress, ModelInput } from './protocol';
import { fileSourceOf } from './url-source';

/** The files with `webkitRelativePath` set from `paths` (lost when the files were posted here). */
export function withPaths(files: File[], paths: string[]): File[] {
  return files.map((f, i) => {
    if (paths[i] && f.webkitRelativePath !== paths[i]) Object.defineProperty(f, 'webkitRelativePath', { value: paths[i], configurable: true });
    return f;
  });
}

/** `onProgress` at most every `ms`, the latest call always delivered (trailing edge); `cancel` drops a pending one. */
function throttled<T>(onProgress: (p: T) => void, ms: number): { send: (p: T) => void; cancel: () => void } {
  let last = 0;
  let pending: T | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    timer = undefined;
    last = performance.now();
    if (pending) onProgress(pending);
    pending = null;
  };
  return {
    send: (p) => {
      pending = p;
      const wait = ms - (performance.now() - last);
      if (wait <= 0) flush();
      else timer ??= setTimeout(flush, wait);
    },
    cancel: () => clearTimeout(timer),
  };
}

/** A hub model into the cache, with download progress summed over its files. */
async function hubModel(id: string, input: Extract<ModelInput, { kind: 'hub' }>, cache: IdbModelCache, signal: AbortSignal, onProgress?: (p: DownloadProgress) => void): Promise<FileSource> {
  const sizes = new Map<string, { bytes: number; total: number | null }>();
  const progress = throttled((p: DownloadProgress) => onProgress?.(p), 100);
  try {
    return await ensureModel(id, cache, {
      token: input.token || null, signal, endpoint: input.endpoint || undefined,
      onProgress: (p) => {
        sizes.set(p.file, { bytes: p.bytes, total: p.total });
        let allBytes = 0, allTotal: number | null = 0;
        for (const s of sizes.values()) {
          allBytes += s.bytes;
          allTotal = allTotal === null || s.total === null ? null : allTotal + s.total;
        }
        progress.send({ ...p, allBytes, allTotal });
      },
    });
  } catch (e) {
    if (signal.aborted) throw new Error(`download of ${id} cancelled; what arrived is kept, and the next Load model resumes it`);
    if (e instanceof HubError) throw new Error(e.message);
    throw e;
  } finally {
    progress.cancel();
  }
}

/** The model `input` names, as files; `signal` cancels a hub download. */
export async function modelSource(
  input: ModelInput, cache: IdbModelCache, demoBase: string, signal: AbortSignal, onProgress?: (p: DownloadProgress) => void,
): Promise<{ src: FileSource; name: string }> {
  if (input.kind === 'demo') return { src: await demoModelSource(cache, demoBase), name: DEMO_MODEL_ID };
  if (input.kind === 'hub') {
    const id = input.id.trim();
    return { src: await hubModel(id, input, cache, signal, onProgress), name: id };
  }
  if (input.kind === 'handle') return { src: fileSourceOf(directorySource(input.handle)), name: input.handle.name };
  const ds = fileListSource(withPaths(input.files, input.paths));
  return { src: fileSourceOf(ds), name: ds.where || 'local model' };
}

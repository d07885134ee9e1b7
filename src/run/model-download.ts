/**
 * A hub model downloaded into a ModelCache for the app's Load model (the IndexedDB cache in the
 * engine worker): progress summed over the model's files, sent at most every 100 ms (the latest
 * always delivered); a cancelled download keeps what arrived and the next load resumes it; a hub
 * error comes as a plain Error with its message (what crosses to the page).
 */
import { ensureModel, HubError } from '../hub/download';
import type { FileSource } from '../platform/file-source';
import type { ModelCache } from '../platform/model-cache';
import { throttled } from '../util/throttle';

export interface DownloadProgress {
  file: string;
  bytes: number;
  total: number | null;
  bytesPerSec: number;
  etaSec: number | null;
  /** Bytes and size over all files of the model so far (size known once each file started). */
  allBytes: number;
  allTotal: number | null;
}

/** Hub model `id` into `cache` (`endpoint`: a hub mirror), with download progress summed over its files. */
export async function downloadModel(
  id: string,
  cache: ModelCache,
  o: { token: string | null; endpoint: string | undefined; signal: AbortSignal },
  onProgress?: (p: DownloadProgress) => void,
): Promise<FileSource> {
  const sizes = new Map<string, { bytes: number; total: number | null }>();
  const progress = throttled((p: DownloadProgress) => onProgress?.(p), 100);
  try {
    return await ensureModel(id, cache, {
      token: o.token,
      signal: o.signal,
      endpoint: o.endpoint,
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
    if (o.signal.aborted)
      throw new Error(`download of ${id} cancelled; what arrived is kept, and the next Load model resumes it`, {
        cause: e,
      });
    if (e instanceof HubError) throw new Error(e.message, { cause: e });
    throw e;
  } finally {
    progress.cancel();
  }
}

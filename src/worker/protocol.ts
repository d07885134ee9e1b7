/**
 * What crosses the comlink boundary between the page (src/app) and the engine worker
 * (./engine.ts): plain structured-cloneable data, Blobs and File System Access handles. Types
 * only, so the page can import this without pulling in the GPU code.
 */
import type { CachedModel } from '../platform/model-cache';
import type { GpuInfo } from '../run/gpu-info';
import type { RunSummary } from '../run/saved-runs';
import type { DatasetSearch } from '../run/search-index';

export type { GpuInfo } from '../run/gpu-info';

/** init(): the adapter, or why there is none (no WebGPU in the browser, or no adapter). */
export type InitResult = { ok: true; gpu: GpuInfo } | { ok: false; error: string };

/**
 * Where a dataset comes from. A File list carries each file's path ("picked/sub/a.jpg") beside it:
 * `webkitRelativePath` does not survive the trip to the worker. 'pagefiles': a picked folder
 * whose files stay in the page (only their paths cross; the engine reads a file through the
 * PageFileReader given with it): posting 120k File objects would hold the page's thread ~30 s.
 */
export type DatasetInput =
  | { kind: 'demo' }
  | { kind: 'handle'; handle: FileSystemDirectoryHandle }
  | { kind: 'files'; files: File[]; paths: string[] }
  | { kind: 'pagefiles'; paths: string[] };

/** Reads files the page holds: for each index its bytes, or why it cannot be read. */
export type PageFileReader = (indices: number[]) => Promise<(ArrayBuffer | string)[]>;

export type { DatasetInfo, ImageCheck, SampleImage } from '../run/dataset';

export type ModelInput =
  | { kind: 'demo' }
  /** `endpoint`: a hub mirror with the same URL layout (default https://huggingface.co). */
  | { kind: 'hub'; id: string; token?: string | null; endpoint?: string | null }
  | { kind: 'handle'; handle: FileSystemDirectoryHandle }
  | { kind: 'files'; files: File[]; paths: string[] };

export type { ModelInfo } from '../run/model';

export type { DownloadProgress } from '../run/model-download';

export type { CachedModel };

export type { ConfigCheck } from '../run/config-check';
export type { ConfigPreset } from '../run/presets';

export type { TrainUpdate } from '../run/training-session';

/** A run in OPFS that can be resumed, evaluated or exported. */
export interface SavedRun extends RunSummary {
  /** What the page needs to reload the data and the model (saved by the page at start). */
  session: SessionInfo | null;
}

/** Saved beside a run so a reload can offer to resume it. */
export interface SessionInfo {
  dataset:
    | { kind: 'demo' }
    | { kind: 'handle'; handle: FileSystemDirectoryHandle; name: string }
    | { kind: 'files'; name: string };
  model:
    | { kind: 'demo' }
    | { kind: 'hub'; id: string; endpoint?: string | null }
    | { kind: 'handle'; handle: FileSystemDirectoryHandle; name: string }
    | { kind: 'files'; name: string };
  yaml: string;
}

export type { RecallSet } from '../run/evaluate';

export type { EvalResult } from '../run/evaluate';

export type { SearchHit } from '../run/search-index';

export interface SearchResults extends DatasetSearch {
  /** Where the gallery index came from: kept from an earlier search, read from OPFS, or built now. */
  index: 'memory' | 'stored' | 'built';
  seconds: number;
}

export interface ExportFile {
  name: string;
  blob: Blob;
}

export type { ExportKind } from '../run/export';

export type Stage = 'dataset' | 'validate' | 'model' | 'evaluate' | 'index' | 'search' | 'export';

/** Progress of a long operation other than training (embedding for evaluation, indexing, ...). */
export interface StageProgress {
  stage: Stage;
  message: string;
  done: number;
  total: number;
}

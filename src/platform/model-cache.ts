/**
 * Where downloaded hub models live: the `ModelCache` interface that src/hub/download.ts (the
 * manifest) and src/hub/download-file.ts (partial files) write through, implemented by a directory
 * in Node (src/hub/cache-node.ts) and by IndexedDB in the browser (src/hub/cache-browser.ts).
 *
 * A file of a model is either complete (downloaded and verified, readable through `source()`),
 * partial (some leading bytes stored, resumable), or absent. Each model also has a manifest: the
 * files it is made of, their sizes and sha256 once the hub announced them, the optional files the
 * hub does not have, and whether everything is there. With a complete manifest, `ensureModel`
 * serves the model without touching the network.
 */
import type { FileSource } from './file-source';

/** One file of a model as the manifest records it. */
export interface ManifestFile {
  name: string;
  /** Size announced by the hub (X-Linked-Size, Content-Range total or Content-Length), once known. */
  size: number | null;
  /** sha256 (64 lowercase hex) announced for LFS files, once known. */
  sha256: string | null;
}

export interface ModelManifest {
  /** Hub id, `owner/name`. */
  id: string;
  revision: string;
  /** Hub endpoint it came from (never the token). */
  endpoint: string;
  /** Files of the model in download order (config, preprocessor, weights or index + shards). */
  files: ManifestFile[];
  /** Optional files the hub answered 404 for, so a later call does not ask again. */
  missing: string[];
  /** True once every file in `files` is complete. */
  complete: boolean;
}

/** A file of a cached model, as `list()` reports it. */
export interface CachedFile {
  name: string;
  /** Bytes stored (the whole file when complete, the received part otherwise). */
  bytes: number;
  /** Expected size when known. */
  size: number | null;
  complete: boolean;
  /** IndexedDB only: how many chunks the file is stored in. */
  chunks?: number;
}

export interface CachedModel {
  id: string;
  revision: string;
  complete: boolean;
  /** Bytes stored over all files. */
  bytes: number;
  files: CachedFile[];
}

/** Appends to a partial file. `close()` stores what was written and returns the partial size. */
export interface PartialWriter {
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<number>;
}

export interface ModelCache {
  /** Human-readable location (a directory, or `indexeddb:<db>`). */
  readonly where: string;
  /** Size of a complete file, or null when it is not complete. */
  completeSize(id: string, file: string): Promise<number | null>;
  /** Bytes of a partial download (0 when there is none). */
  partialSize(id: string, file: string): Promise<number>;
  /**
   * Opens the partial file for writing at `offset`, which is 0 (start over: drops what is stored)
   * or the current partial size (append).
   */
  openPartial(id: string, file: string, offset: number): Promise<PartialWriter>;
  /** sha256 (lowercase hex) of the partial file, or null where computing it is not feasible. */
  partialSha256(id: string, file: string): Promise<string | null>;
  /** Makes the partial file the complete file (atomically). */
  commit(id: string, file: string): Promise<void>;
  /** Drops a partial download. */
  discardPartial(id: string, file: string): Promise<void>;
  readManifest(id: string): Promise<ModelManifest | null>;
  writeManifest(m: ModelManifest): Promise<void>;
  /** Every cached model (complete or not) with its sizes. */
  list(): Promise<CachedModel[]>;
  /** Removes a model and all its files (complete and partial). */
  delete(id: string): Promise<void>;
  /** Read access to the complete files of a model, for `loadCheckpoint`. */
  source(id: string): FileSource;
}

/** Directory (or key) name for a hub id: `owner/name` -> `owner--name` (the hub forbids `--` in ids). */
export function modelDirName(id: string): string {
  return id.replace('/', '--');
}

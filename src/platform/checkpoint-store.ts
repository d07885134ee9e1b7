/**
 * CheckpointStore: where a training run's output_dir lives (checkpoint folders written
 * atomically, train_results.json, train_config.yaml): a Node folder (./checkpoint-store-node.ts)
 * or OPFS in the browser (./checkpoint-store-browser.ts). src/train/checkpoint.ts writes through
 * it, src/train/run-folder.ts reads it.
 */
/** Where checkpoints live: a Node folder, or OPFS/IndexedDB in the browser. */
export interface CheckpointStore {
  readonly where: string;
  /** Writes `files` as the folder `name` atomically (replacing an older one of that name). */
  writeFolder(name: string, files: Map<string, Uint8Array>): Promise<void>;
  /** Writes one file atomically at the top level of the output. */
  writeFile(name: string, data: Uint8Array): Promise<void>;
  readFile(folder: string, name: string): Promise<Uint8Array>;
  hasFile(folder: string, name: string): Promise<boolean>;
  /** Names of top-level folders. */
  listFolders(): Promise<string[]>;
}

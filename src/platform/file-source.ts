/**
 * FileSource: read access to the files of one model folder (config.json, weights,
 * preprocessor_config.json, adapter files), whatever holds them: a Node folder
 * (./file-source-node.ts), the model cache (./model-cache.ts: a Node folder or IndexedDB), a
 * picked folder or files served over HTTP (./data-source-http.ts fileSourceOf), a checkpoint
 * folder of a run (src/run/model.ts storeFolderSource). src/model/load.ts reads a model from one.
 */
/** Read access to the files of one model folder. */
export interface FileSource {
  /** Human-readable location, used in error messages (a path or a hub id). */
  readonly where: string;
  exists(name: string): Promise<boolean>;
  bytes(name: string): Promise<Uint8Array>;
}

/**
 * FileSource: read access to the files of one model folder, by name (a Node folder:
 * ./file-source-node.ts; the hub caches in src/hub; a browser folder or URL in src/worker).
 * src/model loads checkpoints through it; it lives here so that src/hub can produce one
 * without depending on src/model.
 */
export interface FileSource {
  /** Human-readable location, used in error messages (a path or a hub id). */
  readonly where: string;
  exists(name: string): Promise<boolean>;
  bytes(name: string): Promise<Uint8Array>;
}

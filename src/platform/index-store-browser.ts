/**
 * Search gallery indexes kept in OPFS, so that a reload (or another visit) searches at once
 * instead of embedding the dataset again: indexes/<id>/ holds
 *   emb.f32      [N, D] float32 (little-endian), the L2-normalized embeddings
 *   index.json   { version, id, model, dataset, N, D, paths, labels, savedAt }, written last:
 *                a folder without it is an interrupted save and is deleted
 * id = a hash of the dataset's fingerprint (its name and the paths of its images) and the
 * model's (its config and a sample of its weights; a fine-tuned run adds the checkpoint), so a
 * changed model or file list never reuses a stale index (images replaced under the same names
 * do: delete the index then). The KEEP most recently used indexes are kept, older ones deleted.
 * A full quota makes saving fail quietly (the index still serves this session).
 */

export const OPFS_INDEX_DIR = 'indexes';
const VERSION = 1;
const KEEP = 3;

export interface StoredIndex {
  id: string;
  model: string;
  dataset: string;
  N: number;
  D: number;
  paths: string[];
  labels: string[];
  emb: Float32Array;
}

/** FNV-1a over strings and numbers, as 2 x 32 bits (hex): a fingerprint, not a security hash. */
export class Fingerprint {
  private a = 0x811c9dc5;
  private b = 0x01000193 ^ 0x5bd1e995;
  add(x: string | number): this {
    const s = typeof x === 'number' ? `#${x}` : x;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      this.a = Math.imul(this.a ^ c, 0x01000193);
      this.b = Math.imul(this.b ^ c, 0x5bd1e995) ^ (this.b >>> 15);
    }
    this.a = Math.imul(this.a ^ 0xff, 0x01000193);
    return this;
  }
  hex(): string {
    return (this.a >>> 0).toString(16).padStart(8, '0') + (this.b >>> 0).toString(16).padStart(8, '0');
  }
}

/** The model's config, tensor shapes and ~64 values of every tensor. */
export function modelFingerprint(ck: { config: unknown; weights: Map<string, Float32Array> }): string {
  const f = new Fingerprint().add(JSON.stringify(ck.config));
  for (const [name, w] of [...ck.weights].sort(([a], [b]) => (a < b ? -1 : 1))) {
    f.add(name).add(w.length);
    const step = Math.max(1, Math.floor(w.length / 64));
    for (let i = 0; i < w.length; i += step) f.add(w[i]);
  }
  return f.hex();
}

export function indexId(datasetName: string, paths: readonly string[], model: string): string {
  const f = new Fingerprint().add(datasetName).add(paths.length);
  for (const p of paths) f.add(p);
  return f.add(model).hex();
}

const isMissing = (e: unknown) =>
  e instanceof DOMException && (e.name === 'NotFoundError' || e.name === 'TypeMismatchError');

async function indexesDir(): Promise<FileSystemDirectoryHandle> {
  return (await navigator.storage.getDirectory()).getDirectoryHandle(OPFS_INDEX_DIR, { create: true });
}

async function writeFile(dir: FileSystemDirectoryHandle, name: string, data: BufferSource | string): Promise<void> {
  const w = await (await dir.getFileHandle(name, { create: true })).createWritable();
  try {
    await w.write(data);
    await w.close();
  } catch (e) {
    await w.abort().catch(() => {});
    throw e;
  }
}

/** The stored index `id`, or null (none, or unreadable: then it is deleted). */
export async function loadIndex(id: string): Promise<StoredIndex | null> {
  const root = await indexesDir();
  let dir: FileSystemDirectoryHandle;
  try {
    dir = await root.getDirectoryHandle(id);
  } catch (e) {
    if (isMissing(e)) return null;
    throw e;
  }
  try {
    const meta = JSON.parse(await (await (await dir.getFileHandle('index.json')).getFile()).text()) as Omit<
      StoredIndex,
      'emb'
    > & { version: unknown };
    if (meta.version !== VERSION || meta.id !== id) throw new Error('another version');
    const bytes = await (await (await dir.getFileHandle('emb.f32')).getFile()).arrayBuffer();
    if (bytes.byteLength !== meta.N * meta.D * 4 || meta.paths.length !== meta.N) throw new Error('sizes do not match');
    await writeFile(dir, 'used', String(Date.now())); // for the least-recently-used cleanup
    return {
      id,
      model: meta.model,
      dataset: meta.dataset,
      N: meta.N,
      D: meta.D,
      paths: meta.paths,
      labels: meta.labels,
      emb: new Float32Array(bytes),
    };
  } catch {
    await root.removeEntry(id, { recursive: true }).catch(() => {});
    return null;
  }
}

/** Saves an index (the embeddings first, index.json last), then drops the least recently used beyond KEEP. */
export async function saveIndex(ix: StoredIndex): Promise<void> {
  const root = await indexesDir();
  await root.removeEntry(ix.id, { recursive: true }).catch(() => {});
  const dir = await root.getDirectoryHandle(ix.id, { create: true });
  try {
    await writeFile(dir, 'emb.f32', ix.emb.subarray(0, ix.N * ix.D) as Float32Array<ArrayBuffer>);
    await writeFile(dir, 'used', String(Date.now()));
    const { emb: _, ...meta } = ix;
    await writeFile(
      dir,
      'index.json',
      JSON.stringify({ version: VERSION, ...meta, savedAt: new Date().toISOString() }),
    );
  } catch (e) {
    await root.removeEntry(ix.id, { recursive: true }).catch(() => {});
    throw e;
  }
  await pruneIndexes(root);
}

/** Stored index ids with their last use (ms since the epoch), most recent first. */
export async function listIndexes(): Promise<{ id: string; used: number; complete: boolean }[]> {
  const root = await indexesDir();
  const out: { id: string; used: number; complete: boolean }[] = [];
  for await (const h of root.values()) {
    if (h.kind !== 'directory') continue;
    const dir = h;
    const used = await dir
      .getFileHandle('used')
      .then((f) => f.getFile())
      .then((f) => f.text())
      .then(Number, () => 0);
    const complete = await dir.getFileHandle('index.json').then(
      () => true,
      () => false,
    );
    out.push({ id: h.name, used, complete });
  }
  return out.sort((a, b) => b.used - a.used);
}

async function pruneIndexes(root: FileSystemDirectoryHandle): Promise<void> {
  const all = await listIndexes();
  const drop = [...all.filter((x) => !x.complete), ...all.filter((x) => x.complete).slice(KEEP)];
  for (const x of drop) await root.removeEntry(x.id, { recursive: true }).catch(() => {});
}

/**
 * The browser `ModelCache`: IndexedDB through idb-keyval, one object store (default database
 * `vembed-hub`, store `files`) with array keys:
 *   ['model', id]                manifest (src/platform/model-cache.ts)
 *   ['file', id, file]           FileMeta: sizes of the stored chunks, complete or not
 *   ['chunk', id, file, i]       Blob of the i-th chunk of the file (i = 0, 1, ...)
 * Files are stored as chunks of `chunkBytes` (default 32 MiB; the last, and the last of each
 * interrupted attempt, may be shorter), so a 343 MB file never needs one giant ArrayBuffer while
 * downloading. A chunk and its file's meta are written in one transaction: after a page reload
 * the stored chunks are exactly those the meta lists, and the download resumes from their end
 * (bytes received after the last chunk are lost with the page).
 *
 * sha256 uses crypto.subtle.digest, which takes one buffer: files up to `maxDigestBytes` (default
 * 512 MiB) are assembled and hashed, larger ones are checked by size only. Reading a file through
 * `source()` assembles it (loadCheckpoint needs the bytes anyway).
 */
import { createStore, get, promisifyRequest, set, type UseStore } from 'idb-keyval';
import type { FileSource } from '../platform/file-source';
import type { CachedFile, CachedModel, ModelCache, ModelManifest, PartialWriter } from '../platform/model-cache';
import { validateRepoId } from './hub-protocol';

interface FileMeta {
  /** Byte size of each stored chunk, in order. */
  chunks: number[];
  complete: boolean;
}

export interface IdbCacheOptions {
  dbName?: string; // default 'vembed-hub'
  storeName?: string; // default 'files'
  chunkBytes?: number; // default 32 MiB
  maxDigestBytes?: number; // default 512 MiB
}

const MiB = 1 << 20;
const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
/** Every key that starts with `prefix` (arrays sort after strings and numbers). */
const prefixRange = (prefix: IDBValidKey[]) => IDBKeyRange.bound(prefix, [...prefix, []]);

export class IdbModelCache implements ModelCache {
  readonly where: string;
  readonly chunkBytes: number;
  readonly maxDigestBytes: number;
  private readonly store: UseStore;

  constructor(opts: IdbCacheOptions = {}) {
    const db = opts.dbName ?? 'vembed-hub';
    this.store = createStore(db, opts.storeName ?? 'files');
    this.where = `indexeddb:${db}`;
    this.chunkBytes = opts.chunkBytes ?? 32 * MiB;
    this.maxDigestBytes = opts.maxDigestBytes ?? 512 * MiB;
  }

  private meta(id: string, file: string): Promise<FileMeta | undefined> {
    return get<FileMeta>(['file', validateRepoId(id), file], this.store);
  }

  async completeSize(id: string, file: string): Promise<number | null> {
    const m = await this.meta(id, file);
    return m?.complete ? sum(m.chunks) : null;
  }

  async partialSize(id: string, file: string): Promise<number> {
    const m = await this.meta(id, file);
    return m && !m.complete ? sum(m.chunks) : 0;
  }

  async openPartial(id: string, file: string, offset: number): Promise<PartialWriter> {
    let meta: FileMeta;
    if (offset === 0) {
      await this.discardPartial(id, file);
      meta = { chunks: [], complete: false };
    } else {
      const m = await this.meta(id, file);
      if (!m || m.complete || sum(m.chunks) !== offset) {
        throw new Error(
          `${this.where}: ${id}/${file}: cannot write at ${offset}, ${m ? sum(m.chunks) : 0} bytes are stored`,
        );
      }
      meta = m;
    }
    const buf = new Uint8Array(this.chunkBytes);
    let fill = 0;
    /** Writes the buffered bytes as the next chunk, with the meta, in one transaction. */
    const flush = async () => {
      if (!fill) return;
      const blob = new Blob([buf.slice(0, fill)]);
      const next: FileMeta = { chunks: [...meta.chunks, fill], complete: false };
      await this.store('readwrite', (s) => {
        s.put(blob, ['chunk', id, file, meta.chunks.length]);
        s.put(next, ['file', id, file]);
        return promisifyRequest(s.transaction);
      });
      meta = next;
      fill = 0;
    };
    return {
      write: async (chunk) => {
        let at = 0;
        while (at < chunk.length) {
          const n = Math.min(chunk.length - at, buf.length - fill);
          buf.set(chunk.subarray(at, at + n), fill);
          fill += n;
          at += n;
          if (fill === buf.length) await flush();
        }
      },
      close: async () => {
        await flush();
        return sum(meta.chunks);
      },
    };
  }

  /** The stored chunks of a file, assembled into one array. */
  private async assemble(id: string, file: string, meta: FileMeta): Promise<Uint8Array<ArrayBuffer>> {
    const out = new Uint8Array(sum(meta.chunks));
    let pos = 0;
    for (let i = 0; i < meta.chunks.length; i++) {
      const blob = await get<Blob>(['chunk', id, file, i], this.store);
      if (!blob || blob.size !== meta.chunks[i]) {
        throw new Error(`${this.where}: ${id}/${file}: chunk ${i} is missing or has the wrong size`);
      }
      out.set(new Uint8Array(await blob.arrayBuffer()), pos);
      pos += blob.size;
    }
    return out;
  }

  async partialSha256(id: string, file: string): Promise<string | null> {
    const m = await this.meta(id, file);
    if (!m || sum(m.chunks) > this.maxDigestBytes || !globalThis.crypto?.subtle) return null;
    const digest = await crypto.subtle.digest('SHA-256', await this.assemble(id, file, m));
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
  }

  async commit(id: string, file: string): Promise<void> {
    const m = await this.meta(id, file);
    if (!m) throw new Error(`${this.where}: ${id}/${file}: nothing to commit`);
    await set(['file', id, file], { ...m, complete: true }, this.store);
  }

  async discardPartial(id: string, file: string): Promise<void> {
    validateRepoId(id);
    await this.store('readwrite', (s) => {
      s.delete(prefixRange(['chunk', id, file]));
      s.delete(['file', id, file]);
      return promisifyRequest(s.transaction);
    });
  }

  async readManifest(id: string): Promise<ModelManifest | null> {
    return (await get<ModelManifest>(['model', validateRepoId(id)], this.store)) ?? null;
  }

  async writeManifest(m: ModelManifest): Promise<void> {
    await set(['model', validateRepoId(m.id)], m, this.store);
  }

  async list(): Promise<CachedModel[]> {
    const manifests = await this.store('readonly', (s) =>
      promisifyRequest(s.getAll(prefixRange(['model'])) as IDBRequest<ModelManifest[]>),
    );
    const out: CachedModel[] = [];
    for (const m of manifests) {
      const files: CachedFile[] = [];
      for (const f of m.files) {
        const meta = await this.meta(m.id, f.name);
        const bytes = meta ? sum(meta.chunks) : 0;
        files.push({
          name: f.name,
          bytes,
          size: f.size ?? (meta?.complete ? bytes : null),
          complete: !!meta?.complete,
          chunks: meta?.chunks.length ?? 0,
        });
      }
      out.push({
        id: m.id,
        revision: m.revision,
        files,
        complete: m.complete && files.every((f) => f.complete),
        bytes: sum(files.map((f) => f.bytes)),
      });
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  async delete(id: string): Promise<void> {
    validateRepoId(id);
    await this.store('readwrite', (s) => {
      s.delete(prefixRange(['chunk', id]));
      s.delete(prefixRange(['file', id]));
      s.delete(['model', id]);
      return promisifyRequest(s.transaction);
    });
  }

  source(id: string): FileSource {
    return {
      where: `${this.where}/${id}`,
      exists: async (name) => (await this.completeSize(id, name)) !== null,
      bytes: async (name) => {
        const m = await this.meta(id, name);
        if (!m?.complete) throw new Error(`${this.where}/${id}: ${name} is not in the cache`);
        return this.assemble(id, name, m);
      },
    };
  }
}

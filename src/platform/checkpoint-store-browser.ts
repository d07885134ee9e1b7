/**
 * CheckpointStore (./checkpoint.ts) over the Origin Private File System, for the browser app (a
 * page or a Web Worker; no Node APIs). A run's output lives in OPFS at runs/<dirName>/:
 *   runs/<dirName>/<checkpoint>/<file>    writeFolder (e.g. checkpoint-step-100/adapter_model.safetensors)
 *   runs/<dirName>/<file>                 writeFile
 *
 *   opfsStore(dirName, opts?)  the store
 *   opfsListRuns()             saved runs with their sizes and checkpoint folders (for the app)
 *   opfsDelete(dirName)        deletes a run
 *
 * Atomic folders: Chromium's OPFS can move (rename) files but not folders (FileSystemHandle.move
 * is missing on directory handles, Chromium 156), so a folder is replaced by roll-forward:
 *   1. every file is written with createWritable() into runs/<dir>/.<name>.pending/, then a
 *      marker `.complete` listing the files; a failure here (a full quota) deletes the pending
 *      folder and leaves the old checkpoint untouched;
 *   2. commit: each file is moved into <name>/ (replacing the old file of that name; where
 *      move() is missing it is copied and the pending copy deleted), files of the old checkpoint
 *      the new one lacks are deleted, then the pending folder.
 * A crash during step 2 leaves the complete pending folder; the store's first use in a later
 * session finishes the commit (and deletes incomplete pending folders), so a reader never sees a
 * mix of two checkpoints. writeFile writes the target through createWritable(), whose changes
 * reach the file only when the stream closes (the spec's swap file), so it is atomic by itself.
 *
 * A full quota (QuotaExceededError from createWritable/write/close) becomes a StorageFullError
 * naming the usage and quota (navigator.storage.estimate()) and saying that the previous
 * checkpoint is intact. Tests cannot give Chromium a tiny real quota from the page, so the
 * `maxBytes` option simulates one: a write that would take the run's folder past `maxBytes` throws
 * a real DOMException('...', 'QuotaExceededError') from the writer path, after the bytes before
 * it were written. (tests/e2e/platform.test.ts also sets a genuine small quota through the
 * DevTools protocol, Storage.overrideQuotaForOrigin, and checks the same behaviour.)
 */
import type { CheckpointStore } from './checkpoint-store';
import { VembedError } from '../util/errors';

/** The OPFS folder holding one folder per run. */
export const OPFS_RUNS_DIR = 'runs';

export interface OpfsStoreOptions {
  /** Test only: simulated quota in bytes for everything under the run's folder (see the header). */
  maxBytes?: number;
  /** Bytes per write() call (default 8 MiB). */
  chunkBytes?: number;
}

export interface OpfsRun {
  name: string;
  /** Total size of its files, pending ones included. */
  bytes: number;
  files: number;
  /** Checkpoint folders (listFolders). */
  checkpoints: string[];
  /** Newest file modification time (ms since the epoch), 0 for an empty run. */
  lastModified: number;
}

/** A write failed because the browser's storage for this site is full. */
export class StorageFullError extends VembedError {
  override name = 'StorageFullError';
}

type MovableFile = FileSystemFileHandle & { move?: (dir: FileSystemDirectoryHandle, name: string) => Promise<void> };

const MARKER = '.complete';
const enc = new TextEncoder();

const isMissing = (e: unknown) =>
  e instanceof DOMException && (e.name === 'NotFoundError' || e.name === 'TypeMismatchError');
const isQuota = (e: unknown) => (e as { name?: unknown } | null)?.name === 'QuotaExceededError';

function checkName(kind: string, name: string): void {
  if (name === '' || name.startsWith('.') || /[/\\]/.test(name)) {
    throw new Error(`${kind} "${name}": expected a plain name (no '/', not starting with '.')`);
  }
}

async function runsDir(create: boolean): Promise<FileSystemDirectoryHandle | null> {
  const root = await navigator.storage.getDirectory();
  try {
    return await root.getDirectoryHandle(OPFS_RUNS_DIR, { create });
  } catch (e) {
    if (isMissing(e)) return null;
    throw e;
  }
}

async function child(dir: FileSystemDirectoryHandle, name: string): Promise<FileSystemDirectoryHandle | null> {
  try {
    return await dir.getDirectoryHandle(name);
  } catch (e) {
    if (isMissing(e)) return null;
    throw e;
  }
}

async function removeIfThere(dir: FileSystemDirectoryHandle, name: string): Promise<void> {
  await dir.removeEntry(name, { recursive: true }).catch((e) => {
    if (!isMissing(e)) throw e;
  });
}

/** Bytes, files and newest modification time under `dir`. */
async function folderSize(
  dir: FileSystemDirectoryHandle,
): Promise<{ bytes: number; files: number; lastModified: number }> {
  const s = { bytes: 0, files: 0, lastModified: 0 };
  for await (const h of dir.values()) {
    if (h.kind === 'directory') {
      const t = await folderSize(h);
      s.bytes += t.bytes;
      s.files += t.files;
      s.lastModified = Math.max(s.lastModified, t.lastModified);
    } else {
      const f = await h.getFile();
      s.bytes += f.size;
      s.files++;
      s.lastModified = Math.max(s.lastModified, f.lastModified);
    }
  }
  return s;
}

async function listFolderNames(dir: FileSystemDirectoryHandle): Promise<string[]> {
  const out: string[] = [];
  for await (const h of dir.values()) if (h.kind === 'directory' && !h.name.startsWith('.')) out.push(h.name);
  return out.sort();
}

const MB = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

async function storageFullError(what: string, e: unknown, intact: string): Promise<StorageFullError> {
  let usage = '';
  try {
    const est = await navigator.storage.estimate();
    usage = `; this site uses ${MB(est.usage ?? 0)} of its ${MB(est.quota ?? 0)} quota (navigator.storage.estimate())`;
  } catch {
    // estimate() unavailable: say what we know
  }
  const msg = String((e as Error)?.message ?? e).replace(/\.$/, '');
  return new StorageFullError(
    `could not write ${what}: browser storage is full (QuotaExceededError: ${msg}${usage}); ${intact}. ` +
      'Delete old runs or other site data to make room.',
  );
}

export function opfsStore(dirName: string, opts: OpfsStoreOptions = {}): CheckpointStore {
  checkName('run folder', dirName);
  const where = `opfs:/${OPFS_RUNS_DIR}/${dirName}`;
  const chunk = Math.max(1, opts.chunkBytes ?? 8 << 20);
  let dirP: Promise<FileSystemDirectoryHandle> | null = null;
  /** The run's folder, created on first use, after finishing or dropping pending commits. */
  const dir = () =>
    (dirP ??= (async () => {
      const runs = (await runsDir(true))!;
      const d = await runs.getDirectoryHandle(dirName, { create: true });
      await recover(d);
      return d;
    })().catch((e) => {
      dirP = null;
      throw e;
    }));
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = queue.then(fn, fn);
    queue = p.catch(() => {});
    return p;
  };

  /** Writes `data` as `dir/name` through createWritable, in chunks; `budget` tracks the simulated quota. */
  async function writeWhole(
    d: FileSystemDirectoryHandle,
    name: string,
    data: Uint8Array,
    budget: { left: number },
  ): Promise<void> {
    const fh = await d.getFileHandle(name, { create: true });
    const w = await fh.createWritable();
    try {
      for (let off = 0; off < data.length; off += chunk) {
        const part = data.subarray(off, Math.min(data.length, off + chunk));
        if (part.length > budget.left) {
          throw new DOMException(
            `simulated quota of ${opts.maxBytes} bytes (OpfsStoreOptions.maxBytes) exceeded`,
            'QuotaExceededError',
          );
        }
        budget.left -= part.length;
        await w.write(part as Uint8Array<ArrayBuffer>);
      }
      await w.close();
    } catch (e) {
      await w.abort().catch(() => {});
      throw e;
    }
  }

  async function budgetFor(d: FileSystemDirectoryHandle): Promise<{ left: number }> {
    if (opts.maxBytes === undefined) return { left: Infinity };
    return { left: opts.maxBytes - (await folderSize(d)).bytes };
  }

  /** Step 2 of writeFolder (see the header); idempotent, so an interrupted commit can be redone. */
  async function commit(d: FileSystemDirectoryHandle, name: string): Promise<void> {
    const pendingName = `.${name}.pending`;
    const pending = (await child(d, pendingName))!;
    const files = JSON.parse(await (await (await pending.getFileHandle(MARKER)).getFile()).text()) as string[];
    const final = await d.getDirectoryHandle(name, { create: true });
    for (const f of files) {
      let src: MovableFile;
      try {
        src = await pending.getFileHandle(f);
      } catch (e) {
        if (isMissing(e)) continue; // moved by an earlier, interrupted commit
        throw e;
      }
      if (typeof src.move === 'function') {
        await src.move(final, f);
      } else {
        const w = await (await final.getFileHandle(f, { create: true })).createWritable();
        await (await src.getFile()).stream().pipeTo(w);
        await pending.removeEntry(f);
      }
    }
    const keep = new Set(files);
    const stale: string[] = [];
    for await (const h of final.values()) if (!keep.has(h.name)) stale.push(h.name);
    for (const s of stale) await removeIfThere(final, s);
    await d.removeEntry(pendingName, { recursive: true });
  }

  /** Finishes complete pending commits of a crashed session and deletes incomplete ones. */
  async function recover(d: FileSystemDirectoryHandle): Promise<void> {
    const pendings: string[] = [];
    for await (const h of d.values())
      if (h.kind === 'directory' && /^\..+\.pending$/.test(h.name)) pendings.push(h.name);
    for (const p of pendings) {
      const pd = (await child(d, p))!;
      const complete = await pd.getFileHandle(MARKER).then(
        () => true,
        (e) => (isMissing(e) ? false : Promise.reject(e)),
      );
      if (complete) await commit(d, p.slice(1, -'.pending'.length));
      else await removeIfThere(d, p);
    }
  }

  async function fileAt(folder: string, name: string): Promise<FileSystemFileHandle | null> {
    const d = await dir();
    const f = folder === '' || folder === '.' ? d : await child(d, folder);
    if (!f) return null;
    try {
      return await f.getFileHandle(name);
    } catch (e) {
      if (isMissing(e)) return null;
      throw e;
    }
  }

  return {
    where,
    writeFolder: (name, files) =>
      serial(async () => {
        checkName('checkpoint folder', name);
        for (const f of files.keys()) checkName(`${name}: file`, f);
        const d = await dir();
        const pendingName = `.${name}.pending`;
        await removeIfThere(d, pendingName);
        const existed = (await child(d, name)) !== null;
        try {
          const budget = await budgetFor(d);
          const pending = await d.getDirectoryHandle(pendingName, { create: true });
          for (const [f, data] of files) await writeWhole(pending, f, data, budget);
          await writeWhole(pending, MARKER, enc.encode(JSON.stringify([...files.keys()])), budget);
        } catch (e) {
          await removeIfThere(d, pendingName).catch(() => {});
          const intact = existed ? `the previous checkpoint ${name} is intact` : 'the previous checkpoints are intact';
          if (isQuota(e)) throw await storageFullError(`checkpoint ${where}/${name}`, e, intact);
          throw new Error(`could not write checkpoint ${where}/${name}: ${(e as Error).message}; ${intact}`, {
            cause: e,
          });
        }
        await commit(d, name);
      }),
    writeFile: (name, data) =>
      serial(async () => {
        checkName('file', name);
        const d = await dir();
        try {
          await writeWhole(d, name, data, await budgetFor(d));
        } catch (e) {
          if (isQuota(e)) throw await storageFullError(`${where}/${name}`, e, `the previous ${name} is intact`);
          throw new Error(`could not write ${where}/${name}: ${(e as Error).message}; the previous ${name} is intact`, {
            cause: e,
          });
        }
      }),
    async readFile(folder, name) {
      const fh = await fileAt(folder, name);
      if (!fh) throw new Error(`${where}/${folder}/${name}: no such file`);
      return new Uint8Array(await (await fh.getFile()).arrayBuffer());
    },
    hasFile: async (folder, name) => (await fileAt(folder, name)) !== null,
    listFolders: async () => listFolderNames(await dir()),
  };
}

/** Runs saved in OPFS (folders of runs/), by name, with their sizes. */
export async function opfsListRuns(): Promise<OpfsRun[]> {
  const runs = await runsDir(false);
  if (!runs) return [];
  const out: OpfsRun[] = [];
  for await (const h of runs.values()) {
    if (h.kind !== 'directory') continue;
    const d = h;
    out.push({ name: h.name, ...(await folderSize(d)), checkpoints: await listFolderNames(d) });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Deletes the run `dirName` and everything in it; false if there was none. */
export async function opfsDelete(dirName: string): Promise<boolean> {
  checkName('run folder', dirName);
  const runs = await runsDir(false);
  if (!runs || !(await child(runs, dirName))) return false;
  await runs.removeEntry(dirName, { recursive: true });
  return true;
}

/**
 * DataSources (./source.ts) in the browser, for a page or a Web Worker (no Node APIs):
 *   directorySource(handle, where?)  a File System Access directory handle: a folder the user
 *                                    picked (showDirectoryPicker) or dropped
 *                                    (DataTransferItem.getAsFileSystemHandle), or an OPFS folder
 *   fileListSource(files)            the files of an `<input type="file" webkitdirectory>` (the
 *                                    fallback where showDirectoryPicker is missing); paths come
 *                                    from `webkitRelativePath` with the picked folder's own name
 *                                    stripped, folders are inferred from the paths
 *   pathListSource(paths, open)      the same over paths alone, each file's bytes fetched on
 *                                    demand by `open(i)`: the engine worker's view of a picked
 *                                    folder whose File objects stay in the page (posting 120k
 *                                    Files to a worker costs ~0.25 ms each on the page's thread)
 * Both read a file only when asked (File objects are handles onto the disk; nothing is copied up
 * front), so a 100k-image dataset costs memory for its names only. Paths are '/'-separated and
 * relative to the picked folder; '..' above it and absolute paths are refused, naming the path.
 */
import { joinPath, isAbsolutePath, type DataSource, type DirEntry } from './data-source';

const byName = (a: DirEntry, b: DirEntry) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** The segments of a path inside the source ([] for the root); throws for '..' above it or absolute. */
function segments(where: string, p: string): string[] {
  if (isAbsolutePath(p))
    throw new Error(`${p}: an absolute path; in the browser paths are relative to the picked folder ${where}`);
  const q = joinPath(p);
  if (q === '.') return [];
  const segs = q.split('/');
  if (segs[0] === '..') throw new Error(`${p}: outside the picked folder ${where}`);
  return segs;
}

const isMissing = (e: unknown) =>
  e instanceof DOMException && (e.name === 'NotFoundError' || e.name === 'TypeMismatchError');

/**
 * A DataSource over a directory handle. `where` (default: the handle's name) names the root in
 * messages. Sub-folder handles are cached by path, so reading the images of a folder walks the
 * tree once, not once per image.
 */
export function directorySource(handle: FileSystemDirectoryHandle, where: string = handle.name): DataSource {
  const dirs = new Map<string, Promise<FileSystemDirectoryHandle>>([['', Promise.resolve(handle)]]);
  const dirAt = (segs: string[]): Promise<FileSystemDirectoryHandle> => {
    const key = segs.join('/');
    let d = dirs.get(key);
    if (!d) {
      d = dirAt(segs.slice(0, -1)).then((parent) => parent.getDirectoryHandle(segs[segs.length - 1]));
      d.catch(() => dirs.delete(key)); // a missing folder may appear later
      dirs.set(key, d);
    }
    return d;
  };
  const file = async (p: string): Promise<File> => {
    const segs = segments(where, p);
    if (segs.length === 0) throw new Error(`${where}: a folder, not a file`);
    try {
      const dir = await dirAt(segs.slice(0, -1));
      return await (await dir.getFileHandle(segs[segs.length - 1])).getFile();
    } catch (e) {
      if (e instanceof DOMException && e.name === 'TypeMismatchError')
        throw new Error(`${p}: a folder, not a file (in ${where})`, { cause: e });
      if (isMissing(e)) throw new Error(`${p}: no such file (in ${where})`, { cause: e });
      throw new Error(`${p}: cannot read the file (in ${where}): ${(e as Error).message}`, { cause: e });
    }
  };
  return {
    where,
    readText: async (p) => (await file(p)).text(),
    readBytes: async (p) => new Uint8Array(await (await file(p)).arrayBuffer()),
    async exists(p) {
      const segs = segments(where, p);
      if (segs.length === 0) return true;
      let dir: FileSystemDirectoryHandle;
      try {
        dir = await dirAt(segs.slice(0, -1));
      } catch (e) {
        if (isMissing(e)) return false;
        throw e;
      }
      const name = segs[segs.length - 1];
      for (const get of [() => dir.getFileHandle(name), () => dir.getDirectoryHandle(name)]) {
        try {
          await get();
          return true;
        } catch (e) {
          if (!isMissing(e)) throw e;
        }
      }
      return false;
    },
    async list(p) {
      let dir: FileSystemDirectoryHandle;
      try {
        dir = await dirAt(segments(where, p));
      } catch (e) {
        if (e instanceof DOMException && e.name === 'TypeMismatchError')
          throw new Error(`${p}: not a folder (in ${where})`, { cause: e });
        if (isMissing(e)) throw new Error(`${p}: no such folder (in ${where})`, { cause: e });
        throw e;
      }
      const out: DirEntry[] = [];
      for await (const h of dir.values()) out.push({ name: h.name, dir: h.kind === 'directory' });
      return out.sort(byName);
    },
  };
}

/**
 * A DataSource over the files of an `<input webkitdirectory>` (or any File objects). A file's
 * path is its `webkitRelativePath` ("picked/sub/a.jpg"), or its `name` when that is empty; when
 * every path starts with the same folder (the picked one, as browsers report it), that folder is
 * stripped, and it becomes `where`. An empty folder has no files and so does not appear.
 */
export function fileListSource(files: File[] | FileList, where?: string): DataSource {
  const list = Array.from(files);
  return pathListSource(
    list.map((f) => f.webkitRelativePath || f.name),
    (i) => Promise.resolve(list[i]),
    where,
  );
}

/**
 * fileListSource over File objects posted to a worker with their paths beside them
 * (`webkitRelativePath` does not survive postMessage): paths[i] is files[i]'s path, else its own.
 */
export function postedFilesSource(files: File[], paths: readonly string[]): DataSource {
  return pathListSource(
    files.map((f, i) => paths[i] || f.webkitRelativePath || f.name),
    (i) => Promise.resolve(files[i]),
  );
}

/**
 * A DataSource over file paths as fileListSource takes them ("picked/sub/a.jpg", the common top
 * folder stripped), where `open(i)` gives the content of paths[i] (a Blob, or bytes) when it is
 * read; it may throw (a file gone since it was picked).
 */
export function pathListSource(
  rawPaths: readonly string[],
  open: (i: number) => Promise<Blob | Uint8Array>,
  where?: string,
): DataSource {
  const paths = rawPaths.map((p) => joinPath(p));
  const tops = new Set(paths.map((p) => (p.includes('/') ? p.slice(0, p.indexOf('/')) : '')));
  const top = tops.size === 1 ? [...tops][0] : '';
  const root = where ?? top;
  const byPath = new Map<string, number>();
  /** Folder path ('' = root) -> its entries by name. */
  const tree = new Map<string, Map<string, boolean>>([['', new Map()]]);
  paths.forEach((path, i) => {
    const segs = (top ? path.slice(top.length + 1) : path).split('/');
    byPath.set(segs.join('/'), i);
    let dir = '';
    for (let k = 0; k < segs.length; k++) {
      let entries = tree.get(dir);
      if (!entries) tree.set(dir, (entries = new Map<string, boolean>()));
      entries.set(segs[k], k < segs.length - 1);
      dir = dir ? `${dir}/${segs[k]}` : segs[k];
    }
  });
  const file = async (p: string): Promise<Blob | Uint8Array> => {
    const key = segments(root, p).join('/');
    const i = byPath.get(key);
    if (i === undefined)
      throw new Error(tree.has(key) ? `${p}: a folder, not a file (in ${root})` : `${p}: no such file (in ${root})`);
    try {
      return await open(i);
    } catch (e) {
      throw new Error(`${p}: cannot read the file (in ${root}): ${(e as Error).message}`, { cause: e });
    }
  };
  const bytes = async (p: string) => {
    const f = await file(p);
    return f instanceof Uint8Array ? f : new Uint8Array(await f.arrayBuffer());
  };
  return {
    where: root,
    readText: async (p) => new TextDecoder().decode(await bytes(p)),
    readBytes: bytes,
    // eslint-disable-next-line @typescript-eslint/require-await -- async: a throw (a path outside the folder) becomes the rejection the interface promises
    async exists(p) {
      const key = segments(root, p).join('/');
      return byPath.has(key) || tree.has(key);
    },
    // eslint-disable-next-line @typescript-eslint/require-await -- async: a throw (a path outside the folder) becomes the rejection the interface promises
    async list(p) {
      const key = segments(root, p).join('/');
      const entries = tree.get(key);
      if (!entries)
        throw new Error(byPath.has(key) ? `${p}: not a folder (in ${root})` : `${p}: no such folder (in ${root})`);
      return [...entries].map(([name, dir]) => ({ name, dir })).sort(byName);
    },
  };
}

/**
 * Files served over HTTP as a DataSource (src/platform/data-source.ts) and a model FileSource
 * (src/model/load.ts): the bundled demo under /demo/ (public/demo, built by tools/make_demo.ts).
 * A static server cannot list folders, so the folder ships `files.json`:
 *   {"files": [{"path": "tshirt_final/1_0.JPG", "size": 712}, ...]}
 * and listings come from it. Reads go through fetch, so after the first visit the service worker
 * answers them from its precache (the demo dataset is precached; the demo model is not: it is
 * copied into IndexedDB when loaded, like a downloaded model).
 */
import type { DataSource, DirEntry } from './data-source';
import { joinPath } from './data-source';
import type { FileSource } from './file-source';

export interface FileIndex {
  files: { path: string; size: number }[];
}

/** Fetches `base + path` (base ends with '/'); errors name the URL and the HTTP status. */
export async function fetchBytes(base: string, path: string): Promise<Uint8Array> {
  const url = base + path.split('/').map(encodeURIComponent).join('/');
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`${url}: cannot fetch (${(e as Error).message}); offline before the app was cached?`, { cause: e });
  }
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

export async function fetchIndex(base: string): Promise<FileIndex> {
  const bytes = await fetchBytes(base, 'files.json');
  try {
    const idx = JSON.parse(new TextDecoder().decode(bytes)) as FileIndex;
    if (!Array.isArray(idx.files)) throw new Error('no "files" list');
    return idx;
  } catch (e) {
    throw new Error(`${base}files.json: not a file index (${(e as Error).message})`, { cause: e });
  }
}

/** A DataSource over the files listed by `index`, fetched from `base` (ending with '/'). */
export function urlDataSource(base: string, index: FileIndex, where: string): DataSource {
  const files = new Set<string>();
  const tree = new Map<string, Map<string, boolean>>([['', new Map()]]);
  for (const f of index.files) {
    const segs = joinPath(f.path).split('/');
    files.add(segs.join('/'));
    for (let k = 0; k < segs.length; k++) {
      const dir = segs.slice(0, k).join('/');
      let entries = tree.get(dir);
      if (!entries) tree.set(dir, (entries = new Map<string, boolean>()));
      entries.set(segs[k], k < segs.length - 1);
    }
  }
  const key = (p: string) => {
    const q = joinPath(p);
    return q === '.' ? '' : q;
  };
  const read = (p: string) => {
    const k = key(p);
    if (!files.has(k)) return Promise.reject(new Error(`${p}: no such file (in ${where})`));
    return fetchBytes(base, k);
  };
  return {
    where,
    readBytes: read,
    readText: async (p) => new TextDecoder().decode(await read(p)),
    // eslint-disable-next-line @typescript-eslint/require-await -- async: a throw becomes the rejection the interface promises
    exists: async (p) => files.has(key(p)) || tree.has(key(p)),
    // eslint-disable-next-line @typescript-eslint/require-await -- async: a throw becomes the rejection the interface promises
    async list(dir) {
      const entries = tree.get(key(dir));
      if (!entries) throw new Error(`${dir}: no such folder (in ${where})`);
      const out: DirEntry[] = [...entries].map(([name, d]) => ({ name, dir: d }));
      return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
  };
}

/** A model FileSource over any DataSource (a picked folder, a file list, the demo folder). */
export function fileSourceOf(ds: DataSource): FileSource {
  return { where: ds.where, exists: (n) => ds.exists(n), bytes: (n) => ds.readBytes(n) };
}

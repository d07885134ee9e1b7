/**
 * Read access to a dataset's files, independent of where they live: a Node directory
 * (./data-source-node.ts), later a browser FileSystemDirectoryHandle. Paths are '/'-separated and
 * relative to the source root (an absolute path is passed through; only the Node source can
 * open one). Also the path helpers the dataset readers share (no Node APIs here).
 */
import { isAbsolutePath } from '../util/paths';

export interface DirEntry {
  name: string;
  /** True for a folder (a symbolic link counts as what it points to). */
  dir: boolean;
}

export interface DataSource {
  /** Human-readable location of the root (a folder path, a picked folder's name). */
  readonly where: string;
  readText(path: string): Promise<string>;
  readBytes(path: string): Promise<Uint8Array>;
  /** True if a file or folder exists at `path`. */
  exists(path: string): Promise<boolean>;
  /** The entries of a folder, sorted by name; throws if `path` is not a folder. */
  list(dir: string): Promise<DirEntry[]>;
}

export { isAbsolutePath };

/**
 * Joins path parts with '/', dropping '' and '.' segments and resolving '..' where it can; a
 * part that is absolute restarts the path. joinPath('a/b', '../c') = 'a/c', joinPath('', 'x') = 'x'.
 */
export function joinPath(...parts: (string | null | undefined)[]): string {
  let abs = '';
  let segs: string[] = [];
  for (const part of parts) {
    if (!part) continue;
    const p = part.replace(/\\/g, '/');
    if (isAbsolutePath(p)) {
      const m = /^([A-Za-z]:)?\//.exec(p);
      abs = m ? m[0] : '/';
      segs = [];
    }
    for (const s of p.slice(isAbsolutePath(p) ? abs.length : 0).split('/')) {
      if (s === '' || s === '.') continue;
      if (s === '..' && segs.length > 0 && segs[segs.length - 1] !== '..') segs.pop();
      else if (s === '..' && abs) continue;
      else segs.push(s);
    }
  }
  const out = abs + segs.join('/');
  return out === '' ? '.' : out;
}

/** The folder part of a path: dirname('a/b/c.jpg') = 'a/b', dirname('c.jpg') = '.'. */
export function dirname(p: string): string {
  const q = joinPath(p);
  const i = q.lastIndexOf('/');
  if (i < 0) return '.';
  return i === 0 ? '/' : q.slice(0, i);
}

/** The last part of a path: basename('a/b/c.jpg') = 'c.jpg'. */
export function basename(p: string): string {
  const q = joinPath(p);
  return q.slice(q.lastIndexOf('/') + 1);
}

/** Image file extensions the readers pick up in folders (lower case, with the dot). */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'] as const;

export function isImageName(name: string): boolean {
  const n = name.toLowerCase();
  return !name.startsWith('.') && IMAGE_EXTENSIONS.some((e) => n.endsWith(e));
}

/**
 * Which of `paths` (relative to the source root) exist as files, found by listing each distinct
 * parent folder once (far cheaper than one lookup per file for 100k images in a dozen folders).
 */
export async function existingFiles(source: DataSource, paths: Iterable<string>): Promise<Set<string>> {
  const byDir = new Map<string, string[]>();
  for (const p of paths) {
    const d = dirname(p);
    let l = byDir.get(d);
    if (!l) byDir.set(d, (l = []));
    l.push(p);
  }
  const found = new Set<string>();
  for (const [d, ps] of byDir) {
    let names: Set<string>;
    try {
      names = new Set((await source.list(d)).filter((e) => !e.dir).map((e) => e.name));
    } catch {
      continue; // the folder itself is missing: none of its files exist
    }
    for (const p of ps) if (names.has(basename(p))) found.add(p);
  }
  return found;
}

/** The same files seen from a sub-folder: paths given to it are relative to `dir`. */
export function subSource(source: DataSource, dir: string): DataSource {
  if (dir === '' || dir === '.') return source;
  const at = (p: string) => joinPath(dir, p);
  return {
    where: source.where === '' || source.where === '.' ? dir : joinPath(source.where, dir),
    readText: (p) => source.readText(at(p)),
    readBytes: (p) => source.readBytes(at(p)),
    exists: (p) => source.exists(at(p)),
    list: (d) => source.list(at(d)),
  };
}

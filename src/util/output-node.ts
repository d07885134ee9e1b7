/**
 * Node only: writing outputs so that a crash, a kill or a full disk never leaves a half-written
 * file under its final name, and checking output paths before any work starts.
 *
 *   writeFileAtomic(path, data)   data -> `.<name>.tmp-<pid>` beside it, then rename over `path`;
 *                                 a failure removes the temporary file and names `path`
 *   writeFolderAtomic(path, files) every file into `.<name>.tmp-<pid>-<ms>/`; then, if `path`
 *                                 exists, it is renamed to `.<name>.old-<pid>`, the new folder
 *                                 renamed to `path` and the old one deleted; a failure puts the
 *                                 old folder back
 *   checkOutputFile(path, what)   before the work: `path` is not a folder and its folder can be made
 *   checkOutputFolder(path, what) before the work: `path` is not a file and can be made (both also
 *                                 clean the stale temporaries of `path` beside it)
 *   cleanStaleTemps(dir)          at start: removes `.*.tmp-<pid>*` entries of processes that are
 *                                 gone, and puts back a `.<name>.old-<pid>` whose `<name>` is missing
 *                                 (a kill between the two renames of a folder swap)
 *
 * `OutputFs` is the subset of node:fs/promises these use; tests pass one that fails or "crashes"
 * at a chosen write (fault injection: ENOSPC at every write, a kill at every rename).
 */
import * as fsp from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { VembedError } from './errors';

export interface OutputFs {
  mkdir(path: string, opts?: { recursive?: boolean }): Promise<unknown>;
  writeFile(path: string, data: Uint8Array | string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  rm(path: string, opts?: { recursive?: boolean; force?: boolean }): Promise<void>;
  stat(path: string): Promise<{ isDirectory(): boolean; isFile(): boolean }>;
  readdir(path: string): Promise<string[]>;
  readFile(path: string): Promise<Uint8Array>;
}

export const nodeFs: OutputFs = {
  mkdir: (p, o) => fsp.mkdir(p, o),
  writeFile: (p, d) => fsp.writeFile(p, d),
  rename: (a, b) => fsp.rename(a, b),
  rm: (p, o) => fsp.rm(p, o),
  stat: (p) => fsp.stat(p),
  readdir: (p) => fsp.readdir(p),
  readFile: async (p) => {
    const b = await fsp.readFile(p);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  },
};

/** A write that failed; the message names the file and says what is left intact. */
export class OutputError extends VembedError {
  override name = 'OutputError';
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** `ENOSPC: no space left on device` from a Node error (its code first). */
export function fsErrorText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const msg = String(err?.message ?? e).replace(/, (open|write|rename|mkdir|close) '.*'$/, '');
  return err?.code && !msg.startsWith(err.code) ? `${err.code}: ${msg}` : msg;
}

/** Name of the temporary sibling of `name` for this process. */
export const tempName = (name: string, tag = '') => `.${name}.tmp-${process.pid}${tag}`;

/** Temporaries this process is writing right now (never cleaned as stale). */
const active = new Set<string>();
/** Runs `fn` with `path` marked as a temporary in use by this process. */
export async function usingTemp<T>(path: string, fn: () => Promise<T>): Promise<T> {
  active.add(resolve(path));
  try {
    return await fn();
  } finally {
    active.delete(resolve(path));
  }
}

const exists = (fs: OutputFs, p: string) =>
  fs.stat(p).then(
    () => true,
    () => false,
  );

/** Writes `data` to `path` atomically (see the header). */
export async function writeFileAtomic(path: string, data: Uint8Array | string, fs: OutputFs = nodeFs): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, tempName(basename(path)));
  const had = await exists(fs, path);
  try {
    await usingTemp(tmp, async () => {
      await fs.mkdir(dir, { recursive: true });
      await fs.writeFile(tmp, data);
      await fs.rename(tmp, path);
    });
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw new OutputError(
      `could not write ${path}: ${fsErrorText(e)}; ${had ? `the previous ${basename(path)} is intact` : 'nothing was written there'}`,
      (e as NodeJS.ErrnoException)?.code,
    );
  }
}

/** Writes `files` as the folder `path`, replacing an older one atomically (see the header). */
export async function writeFolderAtomic(
  path: string,
  files: Map<string, Uint8Array>,
  fs: OutputFs = nodeFs,
  what = 'folder',
): Promise<void> {
  const dir = dirname(path),
    name = basename(path);
  const tmp = join(dir, tempName(name, `-${Date.now()}`));
  const old = join(dir, `.${name}.old-${process.pid}`);
  let moved = false;
  try {
    await usingTemp(tmp, () =>
      usingTemp(old, async () => {
        await fs.mkdir(dir, { recursive: true });
        await fs.rm(tmp, { recursive: true, force: true });
        await fs.mkdir(tmp);
        for (const [f, data] of files) await fs.writeFile(join(tmp, f), data);
        const exists = await fs.stat(path).then(
          () => true,
          () => false,
        );
        if (exists) {
          await fs.rename(path, old);
          moved = true;
        }
        await fs.rename(tmp, path);
        moved = false;
        if (exists) await fs.rm(old, { recursive: true, force: true });
      }),
    );
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => {});
    if (moved) await fs.rename(old, path).catch(() => {});
    throw new OutputError(
      `could not write ${what} ${path}: ${fsErrorText(e)}; ${what === 'checkpoint' ? 'the previous checkpoints are intact' : `the previous ${name} is intact`}`,
      (e as NodeJS.ErrnoException)?.code,
    );
  }
}

/** The nearest existing ancestor of `p` must be a folder we can write into. */
async function checkCreatable(p: string, what: string): Promise<void> {
  let d = resolve(p);
  for (;;) {
    const st = await fsp.stat(d).catch(() => null);
    if (st) {
      if (!st.isDirectory()) throw new OutputError(`${what}: ${d} is a file, so ${p} cannot be created under it`);
      await fsp.access(d, fsp.constants.W_OK).catch(() => {
        throw new OutputError(`${what}: cannot write into ${d} (permission denied)`);
      });
      return;
    }
    const up = dirname(d);
    if (up === d) return;
    d = up;
  }
}

/** Before the work: `path` can be written as a file (not a folder; its folder exists or can be
 *  made). Temporaries of `path` left by killed processes are removed. */
export async function checkOutputFile(path: string, what: string): Promise<void> {
  const st = await fsp.stat(path).catch(() => null);
  if (st?.isDirectory()) throw new OutputError(`${what} ${path}: is a folder; expected a file name to write`);
  await checkCreatable(dirname(resolve(path)), what);
  await cleanStaleTemps(dirname(path), nodeFs, basename(path));
}

/** Before the work: `path` can be used as an output folder (not a file; exists or can be made).
 *  Temporaries of `path` left by killed processes (beside it) are removed. */
export async function checkOutputFolder(path: string, what: string): Promise<void> {
  const st = await fsp.stat(path).catch(() => null);
  if (st && !st.isDirectory()) throw new OutputError(`${what} ${path}: is a file; expected a folder`);
  await checkCreatable(path, what);
  await cleanStaleTemps(dirname(resolve(path)), nodeFs, basename(resolve(path)));
}

/** True while process `pid` exists (EPERM: it exists, owned by someone else). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const TEMP = /^\.(.+)\.(tmp|old)-(\d+)(?:-\d+)?$/;
/** The name before this change: `<name>.old-<pid>`, not hidden. */
const LEGACY_OLD = /^(checkpoint-(?:step|epoch)-\d+)\.old-(\d+)$/;

/**
 * Cleans what killed writers left in `dir` (see the header); returns one line per entry handled.
 * `only` limits it to the temporaries of one name (e.g. a merge output beside other files).
 */
export async function cleanStaleTemps(dir: string, fs: OutputFs = nodeFs, only?: string): Promise<string[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const done: string[] = [];
  for (const n of names) {
    const m = TEMP.exec(n);
    const legacy = LEGACY_OLD.exec(n);
    const target = m?.[1] ?? legacy?.[1];
    const pid = Number(m?.[3] ?? legacy?.[2]);
    if (!target || (only !== undefined && target !== only)) continue;
    if (pid === process.pid ? active.has(resolve(dir, n)) : processAlive(pid)) continue;
    const kind = m?.[2] ?? 'old';
    if (kind === 'old' && !names.includes(target)) {
      await fs.rename(join(dir, n), join(dir, target));
      done.push(`restored ${join(dir, target)} (a save was interrupted while replacing it)`);
    } else {
      await fs.rm(join(dir, n), { recursive: true, force: true });
      done.push(`removed ${join(dir, n)} (left by an interrupted write)`);
    }
  }
  return done;
}

/**
 * CheckpointStore over a Node folder. Every write goes to a hidden temporary beside its target
 * and is renamed into place, so a kill or a full disk never leaves a half-written file or
 * checkpoint under its final name:
 *   writeFile(name)      `.<name>.tmp-<pid>` -> rename over <name> (src/util/output-node.ts)
 *   writeFolder(name)    every file into `.<name>.tmp-<pid>-<ms>/`; then, if <name> exists, it is
 *                        renamed to `.<name>.old-<pid>`, the new folder renamed to <name>, and
 *                        the old one deleted (writeFolderAtomic). A failure puts the old folder
 *                        back; a kill between the two renames leaves `.<name>.old-<pid>`, which
 *                        the store's first use in a later process renames back (cleanStaleTemps),
 *                        with the temporaries of dead processes removed.
 * Errors name the file or checkpoint and say that what was saved before is intact.
 * `fs` is injectable for fault-injection tests (a full disk at every write, a kill at every rename).
 */
import { join } from 'node:path';
import { cleanStaleTemps, nodeFs, writeFileAtomic, writeFolderAtomic, type OutputFs } from '../util/output-node';
import type { CheckpointStore } from './checkpoint-store';

export interface NodeStore extends CheckpointStore {
  /** What the first use cleaned up (interrupted writes of earlier processes), one line each. */
  recovered(): Promise<string[]>;
}

export function nodeStore(dir: string, fs: OutputFs = nodeFs): NodeStore {
  let recovery: Promise<string[]> | null = null;
  const ready = () => (recovery ??= cleanStaleTemps(dir, fs));

  return {
    where: dir,
    recovered: ready,
    async writeFolder(name, files) {
      await ready();
      await writeFolderAtomic(join(dir, name), files, fs, 'checkpoint');
    },
    async writeFile(name, data) {
      await ready();
      await writeFileAtomic(join(dir, name), data, fs);
    },
    async readFile(folder, name) {
      await ready();
      return fs.readFile(join(dir, folder, name));
    },
    async hasFile(folder, name) {
      await ready();
      return fs.stat(join(dir, folder, name)).then(
        (s) => s.isFile(),
        () => false,
      );
    },
    async listFolders() {
      await ready();
      const out: string[] = [];
      for (const n of await fs.readdir(dir).catch(() => [] as string[])) {
        if (n.startsWith('.')) continue;
        if (
          await fs.stat(join(dir, n)).then(
            (s) => s.isDirectory(),
            () => false,
          )
        )
          out.push(n);
      }
      return out.sort();
    },
  };
}

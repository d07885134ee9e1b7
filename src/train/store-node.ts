/** CheckpointStore over a Node folder: writes go to a temporary folder/file, then rename. */
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckpointStore } from './checkpoint';

export function nodeStore(dir: string): CheckpointStore {
  return {
    where: dir,
    async writeFolder(name, files) {
      await mkdir(dir, { recursive: true });
      const tmp = join(dir, `.${name}.tmp-${process.pid}-${Date.now()}`);
      await rm(tmp, { recursive: true, force: true });
      await mkdir(tmp);
      try {
        for (const [f, data] of files) await writeFile(join(tmp, f), data);
        const final = join(dir, name);
        const old = `${final}.old-${process.pid}`;
        const exists = await stat(final).then(() => true, () => false);
        if (exists) await rename(final, old);
        await rename(tmp, final);
        if (exists) await rm(old, { recursive: true, force: true });
      } catch (e) {
        await rm(tmp, { recursive: true, force: true });
        throw new Error(`could not write checkpoint ${join(dir, name)}: ${(e as Error).message}; the previous checkpoints are intact`);
      }
    },
    async writeFile(name, data) {
      await mkdir(dir, { recursive: true });
      const tmp = join(dir, `.${name}.tmp-${process.pid}`);
      await writeFile(tmp, data);
      await rename(tmp, join(dir, name));
    },
    readFile: async (folder, name) => new Uint8Array(await readFile(join(dir, folder, name))),
    hasFile: (folder, name) => stat(join(dir, folder, name)).then((s) => s.isFile(), () => false),
    async listFolders() {
      const ents = await readdir(dir, { withFileTypes: true }).catch(() => []);
      return ents.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
    },
  };
}

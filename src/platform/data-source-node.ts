/** A DataSource (./source.ts) over a local folder (Node). `where` is the folder as given. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { DataSource, DirEntry } from './data-source';

export function nodeSource(root: string): DataSource {
  const full = (p: string) => resolve(root, p);
  return {
    where: root,
    async readText(p) {
      return readFile(full(p), 'utf8');
    },
    async readBytes(p) {
      const b = await readFile(full(p));
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    },
    async exists(p) {
      return stat(full(p)).then(
        () => true,
        () => false,
      );
    },
    async list(dir) {
      const ents = await readdir(full(dir), { withFileTypes: true });
      const out: DirEntry[] = [];
      for (const e of ents) {
        let isDir = e.isDirectory();
        if (e.isSymbolicLink())
          isDir = await stat(resolve(full(dir), e.name)).then(
            (s) => s.isDirectory(),
            () => false,
          );
        out.push({ name: e.name, dir: isDir });
      }
      return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
  };
}

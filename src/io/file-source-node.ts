/** A FileSource over a local directory (Node). */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileSource } from './file-source';

export function dirSource(dir: string): FileSource {
  return {
    where: dir,
    async exists(name) {
      try {
        return (await stat(join(dir, name))).isFile();
      } catch {
        return false;
      }
    },
    async bytes(name) {
      const b = await readFile(join(dir, name));
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    },
  };
}
